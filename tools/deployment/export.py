"""Export a fused MobileOne classifier / SSDLite detector / DeepLabV3 segmentor for a runtime.

Usage::

    python tools/deployment/export.py CONFIG CHECKPOINT \\
        --backend {onnx,executorch,litert,ncnn,coreml} --out-dir DIR [--shape H W] \\
        [--int8 [--calib-dir IMAGES] [--diagonal-split {auto,all,none}] \\
                [--no-bias-correction]]  # --int8: executorch, onnx

A training checkpoint is fused first. The runtime's model file is written into DIR and, where
the runtime runs on this machine, run on a random input, printing one line per output
``NAME max_abs_diff=... rel=...`` against PyTorch. Exit status 1 when an output differs by more
than the tolerance (1e-4 relative; the files are removed), when a runtime package is missing
(``pip install -e ".[deploy]"``) or for another user error; 2 for bad arguments (an unknown
backend lists the registered ones). Details: docs/deployment.md.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deploy.backends import backend_names  # noqa: E402
from mmmobileone.deploy.export import ParityError, export_config  # noqa: E402
from mmmobileone.deploy.int8.export import export_config_int8  # noqa: E402
from mmmobileone.deploy.int8.quantize import DIAGONAL_SPLIT_MODES  # noqa: E402
from mmmobileone.deploy.outputs import TASKS  # noqa: E402
from mmmobileone.deploy.parity import FLOAT_TOLERANCE  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402

DOCS = 'docs/deployment.md'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the fused network of an mmpretrain / mmdet / mmseg config for a '
        'runtime (ONNX Runtime, ExecuTorch + XNNPACK, LiteRT, ncnn, Core ML) and compare it '
        'with PyTorch where the runtime runs on this machine.')
    parser.add_argument('config', help='mmpretrain / mmdet / mmseg config file')
    parser.add_argument('checkpoint', help='training (unfused) or deploy (fused) checkpoint')
    parser.add_argument('--backend', required=True, choices=backend_names(),
                        help='target runtime (the registered backends)')
    parser.add_argument('--out-dir', required=True, help='folder for the model file(s)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 224 classification, 320 detection, 512 '
                        'segmentation)')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS],
                        help='default: from the model (bbox_head / decode_head / classifier)')
    parser.add_argument('--name', help='file name stem (default: the config file name)')
    parser.add_argument('--tolerance', type=float, default=FLOAT_TOLERANCE,
                        help=f'largest relative difference accepted (default {FLOAT_TOLERANCE:g})')
    parser.add_argument('--int8', action='store_true',
                        help='static INT8 post-training quantization (executorch: XNNPACK '
                        'PT2E; onnx: ONNX Runtime QDQ), per-channel weights; writes '
                        'NAME_int8.pte / NAME_int8.onnx')
    parser.add_argument('--calib-dir', metavar='IMAGES',
                        help='with --int8: calibration images (any folder, no labels), read '
                        'through the config\'s test pipeline (default: the test image folder)')
    parser.add_argument('--calib-images', type=int, default=32,
                        help='with --int8: at most this many calibration images')
    parser.add_argument('--keep-float', nargs='+', default=[], metavar='MODULE',
                        help='with --int8: modules left in float, e.g. model.backbone.stage0; '
                        '"auto": the layers whose simulated INT8 SQNR is below 20 dB')
    parser.add_argument('--diagonal-split', default='auto', choices=DIAGONAL_SPLIT_MODES,
                        help='with --int8: which square 1x1 fused kernels get their diagonal '
                        'as a separate depthwise 1x1 conv, which INT8 represents far better '
                        '(auto: where the simulated SQNR gains >= 6 dB; docs/deployment.md)')
    parser.add_argument('--no-bias-correction', dest='bias_correction', action='store_false',
                        help='with --int8: keep the biases as trained (default: each layer\'s '
                        'mean simulated INT8 error on the calibration images moves into its '
                        'bias; docs/deployment.md)')
    add_cfg_options(parser)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def export(argv: Optional[Sequence[str]] = None):
    """Export and check as the command line says, print the written paths and the parity lines;
    return the :class:`~mmmobileone.deploy.export.ExportReport`."""
    args = parse_args(argv)
    if args.int8:
        return _export_int8(args)
    try:
        report = export_config(args.config, args.checkpoint, args.backend, args.out_dir,
                               shape=args.shape, task=args.task, name=args.name,
                               tolerance=args.tolerance, cfg_options=args.cfg_options)
    except ParityError as error:  # the differences are the tool's output, then the error
        for result in error.results:
            print(result.line())
        raise
    for path in report.paths:
        print(f'wrote {path}')
    for result in report.parity:
        print(result.line())
    if not report.parity:
        print(f'{args.backend}: {report.note}')
    return report


def _export_int8(args: argparse.Namespace):
    """``--int8``: calibrate, quantize, export, compare with float PyTorch (no tolerance)."""
    report = export_config_int8(args.config, args.checkpoint, args.backend, args.out_dir,
                                calib_dir=args.calib_dir, calib_images=args.calib_images,
                                shape=args.shape, task=args.task, name=args.name,
                                keep_float=args.keep_float, diagonal_split=args.diagonal_split,
                                bias_correction=args.bias_correction,
                                cfg_options=args.cfg_options)
    for path in report.paths:
        print(f'wrote {path}')
    for result in report.parity:
        print(result.line())
    print(report.note)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(export, argv, docs=DOCS)


if __name__ == '__main__':
    sys.exit(main())
