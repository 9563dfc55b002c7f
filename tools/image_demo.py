"""Draw predictions on images: ``python tools/image_demo.py INPUTS... CONFIG CHECKPOINT``.

INPUTS are image files, folders or glob patterns (quote globs). Works for detection (boxes,
labels, scores), segmentation (coloured mask overlay) and classification (top-k labels)
configs, drawn by the config library's own inferencer (``ImageClassificationInferencer``,
``DetInferencer``, ``MMSegInferencer``) into ``OUT_DIR/vis/``. The model is fused
(re-parameterized) first unless ``--no-fuse``. Files that cannot be read as images are reported
and skipped. CONFIG may also be a model name or alias of the zoo (configs/README.md,
case-insensitive); the weights are always the CHECKPOINT given. Example::

    python tools/image_demo.py demo/ 'data/coco/val2017/*.jpg' \\
        configs/ssdlite_mobileone_s2_coco.py work_dirs/ssdlite_mobileone_s2_coco/deploy.pth
    python tools/image_demo.py demo/ ssdlite_mobileone-s2_coco \\
        work_dirs/ssdlite_mobileone_s2_coco/deploy.pth
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmmobileone.apis import run_demo  # noqa: E402
from mmmobileone.errors import MissingPathError  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the predictions of a MobileOne classifier, detector or segmentor '
        'on images', epilog='INPUTS may be image files, folders and (quoted) glob patterns.')
    parser.add_argument('inputs', nargs='+', help='images, folders or glob patterns')
    parser.add_argument('config', help='config file, or a model name or alias from the zoo '
                        '(configs/README.md, e.g. ssdlite_mobileone-s2_coco)')
    parser.add_argument('checkpoint', help='checkpoint (training or fused deploy.pth)')
    parser.add_argument('--out-dir', default='outputs/demo',
                        help='pictures are written into its vis/ folder')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--no-fuse', action='store_true',
                        help='run the train-time network instead of the fused one')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    parser.add_argument('--topk', type=int, default=5, help='classification: labels to show')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation: mask opacity in [0, 1]')
    add_cfg_options(parser, 'model.test_cfg.score_thr=0.1')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def demo(argv=None):
    """Draw as the command line says; returns the demo report (raises on user errors)."""
    args = parse_args(argv)
    report = run_demo(args.inputs, args.config, args.checkpoint, args.out_dir,
                      device=args.device, fuse=not args.no_fuse, score_thr=args.score_thr,
                      topk=args.topk, opacity=args.opacity, cfg_options=args.cfg_options)
    if not report.written:
        raise MissingPathError(f'no readable image among {args.inputs}')
    return report


def main(argv=None) -> int:
    """Returns the exit status: 0, or 1 for a user error (bad config, checkpoint, or no
    readable image at all), logged as one line."""
    return run_tool(demo, argv)


if __name__ == '__main__':
    sys.exit(main())
