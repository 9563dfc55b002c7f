"""Export a fused MobileOne classifier / SSDLite / DeepLabV3 to ONNX and verify it.

Usage: ``python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx``
(options: ``--help``; details in docs/deployment.md, section 2). The same export as
``tools/deployment/export.py --backend onnx`` (the ``onnx`` backend of
:mod:`mmmobileone.deploy.backends`), with the ONNX options: dynamic height / width, opset,
the batch of the verification input, the unfused network; it reports the difference against
ONNX Runtime and does not fail on it.
"""
import argparse
import logging
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deploy.backends.onnx import DEFAULT_OPSET, SUFFIX  # noqa: E402
from mmmobileone.deploy.export import ExportReport, export_config  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, add_model_args, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.export_onnx')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a (fused) MobileOne classifier, SSDLite detector or DeepLabV3 '
        'segmentor to ONNX with a dynamic batch axis (and dynamic height/width for '
        'segmentation), then compare ONNX Runtime with PyTorch on a random input.')
    add_model_args(parser)
    parser.add_argument('--out', help='output .onnx (default: CONFIG_NAME.onnx in the working '
                        'directory)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='export the train-time branches (slower; for comparison only)')
    parser.add_argument('--dynamic-spatial', choices=['auto', 'yes', 'no'], default='auto',
                        help='dynamic height/width axes (auto: segmentation only)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument('--verify-batch', type=int, default=2,
                        help='batch size of the random verification input (tests the dynamic '
                        'batch axis); 0 skips verification')
    add_cfg_options(parser)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def export(argv: Optional[Sequence[str]] = None) -> ExportReport:
    """Export and verify as the command line says; returns the export report."""
    args = parse_args(argv)
    out = args.out or osp.splitext(osp.basename(args.config))[0] + SUFFIX
    stem = osp.basename(out)
    stem = stem[:-len(SUFFIX)] if stem.endswith(SUFFIX) else stem
    dynamic_spatial = None if args.dynamic_spatial == 'auto' else args.dynamic_spatial == 'yes'
    report = export_config(args.config, args.checkpoint, 'onnx', osp.dirname(out) or '.',
                           shape=args.shape, task=args.task, name=stem, tolerance=None,
                           fuse=not args.no_fuse, check_batch=args.verify_batch,
                           cfg_options=args.cfg_options, dynamic_spatial=dynamic_spatial,
                           opset=args.opset)
    logger.info('exported %s (%s; outputs: %s)', report.paths[0], report.task,
                ', '.join(report.output_names))
    if report.parity:
        largest = max(r.max_abs_value for r in report.parity)
        logger.info('%s: max abs difference %.3g (outputs up to %.3g, relative %.2g)',
                    report.note, report.max_abs_diff, largest, report.worst_relative)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(export, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
