"""Export a fused MobileOne classifier / SSDLite / DeepLabV3 to ONNX and verify it.

Usage: ``python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx``
(options: ``--help``; details in docs/deployment.md).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.common import add_cfg_options, add_debug_flag, add_model_args, run_tool  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a (fused) MobileOne classifier, SSDLite detector or DeepLabV3 '
        'segmentor to ONNX with a dynamic batch axis (and dynamic height/width for '
        'segmentation), then compare ONNX Runtime with PyTorch on the same inputs.')
    add_model_args(parser)
    parser.add_argument('--out', help='output .onnx (default: CONFIG_NAME.onnx in the working '
                        'directory)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='export the train-time branches (slower; for comparison only)')
    parser.add_argument('--dynamic-spatial', choices=['auto', 'yes', 'no'], default='auto',
                        help='dynamic height/width axes (auto: segmentation only)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset')
    parser.add_argument('--verify-batch', type=int, default=2,
                        help='batch size of the random verification input (tests the dynamic '
                        'batch axis); 0 skips verification')
    add_cfg_options(parser)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def export(argv: Optional[Sequence[str]] = None) -> Dict:
    """Export and verify as the command line says; returns the export report."""
    import mmmobileone  # noqa: F401  (registries, compatibility fixes)
    from mmmobileone.deploy.export import export_config_onnx
    args = parse_args(argv)
    out = args.out or osp.splitext(osp.basename(args.config))[0] + '.onnx'
    dynamic_spatial = None if args.dynamic_spatial == 'auto' else args.dynamic_spatial == 'yes'
    return export_config_onnx(args.config, args.checkpoint, out, shape=args.shape,
                              task=args.task, fuse=not args.no_fuse,
                              dynamic_spatial=dynamic_spatial, opset=args.opset,
                              verify_batch=args.verify_batch, cfg_options=args.cfg_options)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(export, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
