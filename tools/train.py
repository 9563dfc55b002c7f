"""Train a MobileOne model: ``python tools/train.py CONFIG [--work-dir DIR] [...]``.

Serves mmpretrain, mmdet and mmseg configs alike (the config's ``default_scope`` decides which
library builds the model, datasets and metrics); the Runner is mmengine's. As mmyolo's tool:
parse -> ``Config.fromfile`` -> merge what the flags ask -> ``Runner.from_cfg``. The config is the
experiment: the hooks and data classes of a run are the config's (the shipped configs declare
mmmobileone's safeguards, ``configs/_base_/runtime_safeguards.py``; a config without them gets
one warning line, and runs as written). Pre-flight checks (dataset paths and files, the
``--resume`` / ``load_from`` checkpoint, reachable pretrained weights) change nothing in the run.
See docs/workflow.md for the flags. A user error (missing config, dataset or checkpoint, a
corrupt checkpoint, a fused checkpoint for a train-time config, a ``Pretrained`` checkpoint that
would leave model tensors unloaded, a bad value) is logged as one line and exits with status 1;
``--debug`` shows the traceback.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402

from mmmobileone.apis import load_config  # noqa: E402
from mmmobileone.datasets import check_dataset_paths, check_user_data  # noqa: E402
from mmmobileone.engine.distributed import prepare_distributed  # noqa: E402
from mmmobileone.engine.pretrained import check_pretrained_checkpoints  # noqa: E402
from mmmobileone.engine.resume import (auto_resume, check_load_from,  # noqa: E402
                                       resume_from_checkpoint, warn_resume_caveats)
from mmmobileone.engine.safeguards import warn_missing_safeguards  # noqa: E402
from mmmobileone.engine.train_options import enable_amp, enable_auto_scale_lr  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, build_runner, run_tool  # noqa: E402

LAUNCHERS = ['none', 'pytorch', 'slurm', 'mpi']


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Flags shared by train and test: work dir, config overrides, launcher, debug."""
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/CONFIG_NAME)')
    add_cfg_options(parser, 'model.backbone.deploy=True train_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher for distributed runs')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed.launch; torchrun uses LOCAL_RANK')
    add_debug_flag(parser)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a MobileOne classifier, detector or '
                                     'segmentor from an mmpretrain / mmdet / mmseg config')
    parser.add_argument('config', help='config file')
    add_common_args(parser)
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or from the latest checkpoint in the '
                        'work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    return parser.parse_args(argv)


def merge_common_args(cfg: Config, args: argparse.Namespace) -> None:
    """``--cfg-options``, the launcher and the work dir (shared with tools/test.py)."""
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    prepare_distributed(cfg, args.launcher)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply what the flags ask to ``cfg`` (in place) and return it; nothing else changes."""
    merge_common_args(cfg, args)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.resume == 'auto':  # the newest readable checkpoint of the work dir, if any
        auto_resume(cfg)
    elif args.resume is not None:
        resume_from_checkpoint(cfg, args.resume)
    elif cfg.get('load_from'):
        check_load_from(cfg, cfg.load_from, 'load_from checkpoint')
    return cfg


def prepare(argv: Optional[Sequence[str]] = None) -> Config:
    """The training config for ``argv`` (no Runner yet), after the pre-flight checks; raises on
    user errors. It is ``Config.fromfile(CONFIG)`` with the flags merged, nothing else."""
    args = parse_args(argv)
    cfg = merge_args(load_config(args.config), args)
    # pre-flight: warnings and early errors only, the config stays as it is
    warn_missing_safeguards(cfg)
    warn_resume_caveats(cfg)
    splits = ('train', 'val') if cfg.get('val_cfg') else ('train', )
    check_dataset_paths(cfg, splits)
    check_user_data(cfg, splits)  # COCO files by file and index, split files, image folders
    check_pretrained_checkpoints(cfg)  # init_cfg weights: cached, local or reachable
    return cfg


def train(argv: Optional[Sequence[str]] = None):
    """Train as the command line does; returns the Runner after training (raises on errors)."""
    runner = build_runner(prepare(argv))
    runner.train()
    return runner


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The exit status: 0, or 1 for a user error (logged as one line)."""
    return run_tool(train, argv)


if __name__ == '__main__':
    sys.exit(main())
