"""Float vs INT8 accuracy through ExecuTorch (XNNPACK) and ONNX Runtime, plus per-layer SQNR.

Usage::

    python tools/deployment/int8_report.py CONFIG CHECKPOINT --out-dir DIR \\
        [--calib-dir IMAGES] [--backends executorch onnx] [--shape H W] \\
        [--keep-float auto | MODULE ...] [--sqnr] [--limit N] [--qat-epochs N] \\
        [--cfg-options KEY=VALUE ...]

Classifiers: top-1 and top-1 agreement of INT8 with float; detectors: COCO bbox mAP and
mAP@0.5 from mmdet's own box decoding / NMS on the runtime's raw head outputs. Writes
DIR/int8_report.md and .json. Over many checkpoints (worst / median / best): int8_study.py.
Details: docs/deployment.md.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmmobileone  # noqa: E402,F401  (registries)
from mmmobileone.deploy.int8.report import int8_report  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Float vs INT8 through the runtimes on the '
                                     "config's test set, and per-layer quantization error")
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--calib-dir', help="default: the config's test image folder")
    parser.add_argument('--calib-images', type=int, default=32)
    parser.add_argument('--backends', nargs='+', default=['executorch', 'onnx'],
                        choices=['executorch', 'onnx'])
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="exported input (default: what the config's test pipeline gives)")
    parser.add_argument('--keep-float', nargs='+', default=[], metavar='MODULE',
                        help='also measure an INT8 model with these modules in float')
    parser.add_argument('--sqnr', action='store_true', help='per-layer SQNR study')
    parser.add_argument('--limit', type=int, help='first N test images only')
    parser.add_argument('--qat-epochs', type=int, default=0,
                        help='classifier, executorch: also quantization-aware fine-tuning '
                        '(distilled from the float network) for this many epochs')
    parser.add_argument('--qat-lr', type=float, default=1e-4)
    add_cfg_options(parser, 'test_dataloader.dataset.data_root=DATA/')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def report(argv: Optional[Sequence[str]] = None):
    args = parse_args(argv)
    try:
        return int8_report(args.config, args.checkpoint, args.out_dir, backends=args.backends,
                           calib_dir=args.calib_dir, calib_images=args.calib_images,
                           shape=args.shape, keep_float=args.keep_float, sqnr=args.sqnr,
                           limit=args.limit, qat_epochs=args.qat_epochs, qat_lr=args.qat_lr,
                           cfg_options=args.cfg_options or None)
    except ImportError as error:
        raise ValueError(str(error)) from error


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(report, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
