"""``tools/deployment/export_onnx.py``: config + checkpoint -> fused ONNX model, verified."""
import argparse
import logging
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import DictAction

from .builder import build_model
from .onnx_export import DEFAULT_OPSET, compare_with_onnxruntime, export_onnx
from .wrappers import TASKS, infer_task, tensor_model

logger = logging.getLogger(__name__)

#: Default input size per task: ImageNet 224, SSDLite 320, DeepLabV3 crop 512.
DEFAULT_SIZES = dict(classification=(224, 224), detection=(320, 320),
                     segmentation=(512, 512))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Export a (fused) MobileOne classifier, SSDLite detector or DeepLabV3 '
        'segmentor to ONNX with a dynamic batch axis (and dynamic height/width for '
        'segmentation), then compare ONNX Runtime with PyTorch on the same inputs.')
    parser.add_argument('config', help='mmpretrain / mmdet / mmseg config file')
    parser.add_argument('checkpoint', help='training (unfused) or deploy (fused) checkpoint')
    parser.add_argument('--out', help='output .onnx (default: CONFIG_NAME.onnx in the working '
                        'directory)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='example input size (default: 224 classification, 320 '
                        'detection, 512 segmentation)')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS],
                        help='default: from the model (bbox_head / decode_head / classifier)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='export the train-time branches (slower; for comparison only)')
    parser.add_argument('--dynamic-spatial', choices=['auto', 'yes', 'no'], default='auto',
                        help='dynamic height/width axes (auto: segmentation only)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument('--verify-batch', type=int, default=2,
                        help='batch size of the random verification input (tests the dynamic '
                        'batch axis); 0 skips verification')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries')
    return parser


def run_export(argv: Optional[Sequence[str]] = None) -> Dict:
    """Export and verify; returns ``dict(path, task, outputs, max_abs_diff, relative_diff)``
    (the differences are ``None`` when verification is skipped)."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    args = build_parser().parse_args(argv)
    model = build_model(args.config, args.checkpoint, fuse=not args.no_fuse,
                        cfg_options=args.cfg_options)
    task = infer_task(model) if args.task == 'auto' else args.task
    wrapper = tensor_model(model, task)
    height, width = args.shape or DEFAULT_SIZES[task]
    dynamic_spatial = (task == 'segmentation' if args.dynamic_spatial == 'auto' else
                       args.dynamic_spatial == 'yes')
    out = args.out or osp.splitext(osp.basename(args.config))[0] + '.onnx'
    example = torch.randn(1, 3, height, width)
    names = export_onnx(wrapper, example, out, dynamic_batch=True,
                        dynamic_spatial=dynamic_spatial, opset=args.opset)
    logger.info('exported %s (%s; outputs: %s)', out, task, ', '.join(names))
    result = dict(path=out, task=task, outputs=names, max_abs_diff=None, relative_diff=None)
    if args.verify_batch > 0:
        inputs = torch.randn(args.verify_batch, 3, height, width,
                             generator=torch.Generator().manual_seed(0))
        check = compare_with_onnxruntime(wrapper, out, inputs)
        result.update(max_abs_diff=check['max_abs_diff'], relative_diff=check['relative'])
        logger.info('ONNX Runtime vs PyTorch on a %s input: max abs difference %.3g (outputs '
                    'up to %.3g, relative %.2g)', 'x'.join(map(str, inputs.shape)),
                    check['max_abs_diff'], check['max_abs_value'], check['relative'])
    return result
