"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out F.pkl] [--show-dir D]``.

Prints the task's metrics (top-1/top-5, COCO bbox mAP or mIoU). The network is fused before
inference unless ``--no-fuse``; see docs/workflow.md for the flags. As mmyolo's tool: parse ->
``Config.fromfile`` -> merge what the flags ask (checkpoint, ``--no-fuse``, ``--show-dir``,
``--out``, work dir, ``--cfg-options``, launcher) -> ``Runner.from_cfg``. User errors are one
line and exit status 1 (``--debug`` shows the traceback).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402

from mmmobileone.apis import load_config  # noqa: E402
from mmmobileone.datasets import check_dataset_paths, check_user_data  # noqa: E402
from mmmobileone.engine.resume import check_load_from  # noqa: E402
from mmmobileone.engine.safeguards import warn_missing_safeguards  # noqa: E402
from mmmobileone.engine.test_options import (dump_predictions, enable_visualization,  # noqa: E402
                                             format_metrics, set_fused_testing)
from tools.common import build_runner, run_tool  # noqa: E402
from tools.train import add_common_args, merge_common_args  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint and print the task metrics '
                                     '(top-1/top-5, COCO bbox mAP or mIoU)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (training or deployed)')
    add_common_args(parser)
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='draw predictions into this folder '
                        '(relative to the working directory unless absolute)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='test the train-time (unfused) network instead of the fused one')
    return parser.parse_args(argv)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command line to ``cfg`` (in place) and return it.

    Checks the checkpoint first: a missing, truncated or corrupt file, or a checkpoint whose
    form (fused or train-time) does not fit the config, fails here with a message that says
    what to do.
    """
    merge_common_args(cfg, args)
    check_load_from(cfg, args.checkpoint, 'checkpoint')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    set_fused_testing(cfg, fuse=not args.no_fuse)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.out:
        dump_predictions(cfg, args.out)
    return cfg


def prepare(argv: Optional[Sequence[str]] = None) -> Tuple[Config, argparse.Namespace]:
    """The test config for ``argv`` (no Runner yet), after the pre-flight checks; raises on user
    errors. It is ``Config.fromfile(CONFIG)`` with the flags merged, nothing else."""
    args = parse_args(argv)
    cfg = merge_args(load_config(args.config), args)
    warn_missing_safeguards(cfg, training=False)  # one warning line; the config stays as it is
    check_dataset_paths(cfg, ('test', ))
    check_user_data(cfg, ('test', ))  # COCO files by file and index, split files, image folders
    return cfg, args


def test(argv: Optional[Sequence[str]] = None) -> Dict:
    """Test as the command line does; returns the metrics (raises on errors)."""
    cfg, args = prepare(argv)
    runner = build_runner(cfg)
    metrics = runner.test()
    runner.logger.info(f'Test metrics of {args.checkpoint} '
                       f"({'unfused' if args.no_fuse else 'fused'} model):\n"
                       f'{format_metrics(metrics)}')
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The exit status: 0, or 1 for a user error (logged as one line)."""
    return run_tool(test, argv)


if __name__ == '__main__':
    sys.exit(main())
