"""Fuse a training checkpoint into a deployed one.

``python tools/model_converters/reparameterize.py CONFIG CHECKPOINT OUT [--shape H W]``

CONFIG is the training config (classifier, detector or segmentor). The deployed checkpoint
loads into the same config with ``--cfg-options model.backbone.deploy=True``. Nothing is written
unless the fused model reproduces the training model's outputs. See docs/workflow.md.
"""
import argparse
import logging
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.apis import fuse_checkpoint, load_config  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.tools.reparameterize')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert a training checkpoint of a MobileOne '
                                     'classifier, detector or segmentor into a fused one')
    parser.add_argument('config', help='training config file')
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('out', help='output file for the deployed checkpoint')
    add_cfg_options(parser)
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='size of the random input that checks the outputs')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed relative output difference')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def reparameterize(argv: Optional[Sequence[str]] = None):
    """Fuse as the command line says; returns the :class:`FuseReport` (raises on errors)."""
    args = parse_args(argv)
    report = fuse_checkpoint(load_config(args.config, args.cfg_options), args.checkpoint,
                             args.out, tuple(args.shape), args.tolerance)
    logger.info(f'wrote {report.out_file}: {report.params_before:,} -> '
                f'{report.params_after:,} parameters, relative output error '
                f'{report.relative_error:.2e}; load it with model.backbone.deploy=True')
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(reparameterize, argv)


if __name__ == '__main__':
    sys.exit(main())
