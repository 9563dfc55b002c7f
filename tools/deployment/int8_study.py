"""INT8 robustness over many trained checkpoints: worst / median / best change against float.

Usage::

    python tools/deployment/int8_study.py CONFIG CKPT [CKPT ...] --out-dir DIR \\
        [--data-roots ROOT ...] [--calib-dir IMAGES] [--methods default no-absorb ...] \\
        [--backends executorch onnx] [--calib-images 32] [--limit N] [--resume]

Every checkpoint is quantized with every method on every runtime and scored through the
runtime on the config's test set (detectors: mAP@0.5 from mmdet's decoding, NMS and
CocoMetric; classifiers: top-1 agreement with float). Prints and writes DIR/int8_study.md (the
worst / median / best table, then one row per checkpoint) and DIR/int8_study.json (rewritten
after every checkpoint; ``--resume`` keeps what it holds). Details: docs/deployment.md, section
5 (INT8 quantization).
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.common import add_debug_flag, run_tool, setup_logging  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmmobileone.deploy.int8.quantize import INT8_BACKENDS
    from mmmobileone.deploy.int8.study import METHODS
    parser = argparse.ArgumentParser(
        description='INT8 accuracy over many trained checkpoints: worst / median / best '
        'change against float per method and runtime')
    parser.add_argument('config', help='the config every checkpoint was trained with')
    parser.add_argument('checkpoints', nargs='+', metavar='CHECKPOINT')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--data-roots', nargs='+', metavar='ROOT',
                        help='data root of each checkpoint (or one for all): the config\'s '
                        'datasets and annotation files are pointed there')
    parser.add_argument('--calib-dir', help="default: each checkpoint's training image folder")
    parser.add_argument('--calib-images', type=int, default=32)
    parser.add_argument('--methods', nargs='+', default=['default', 'no-absorb'],
                        choices=list(METHODS), help='INT8 methods to compare (' + '; '.join(
                            f'{k}: {v.description}' for k, v in METHODS.items()) + ')')
    parser.add_argument('--backends', nargs='+', default=list(INT8_BACKENDS),
                        choices=list(INT8_BACKENDS))
    parser.add_argument('--limit', type=int, help='first N test images only')
    parser.add_argument('--resume', action='store_true',
                        help='keep the checkpoints already in DIR/int8_study.json')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def study(argv: Optional[Sequence[str]] = None):
    import mmmobileone  # noqa: F401
    args = parse_args(argv)
    from mmmobileone.deploy.int8.study import int8_study
    result = int8_study(args.config, args.checkpoints, args.out_dir, methods=args.methods,
                        backends=args.backends, data_roots=args.data_roots,
                        calib_dir=args.calib_dir, calib_images=args.calib_images,
                        limit=args.limit, resume=args.resume,
                        worker_init=setup_logging)
    with open(osp.join(args.out_dir, 'int8_study.md')) as f:
        print(f.read())
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(study, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
