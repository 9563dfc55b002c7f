"""Random state that a resumed run can repeat: ``EpochSeedHook``."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from ...registry import HOOKS

#: Multiplier that spreads the epoch seeds away from the per-worker seeds (seed + worker id).
EPOCH_STRIDE = 1_000_003


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of the main process for (0-based) ``epoch``."""
    return (seed + EPOCH_STRIDE * (epoch + 1) + rank) % 2**32


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed the main process (``random``, NumPy, torch) at the start of every train epoch.

    A checkpoint holds the weights, the optimizer, the schedulers and the message hub, but not
    the random generators of the main process, which draw the augmentations of
    ``num_workers=0`` loaders, batch augments (Mixup, CutMix), dropout and drop-path. With this
    hook each epoch starts from ``epoch_seed(runner.seed, epoch)``, so a run resumed from an
    epoch checkpoint draws the same numbers as the uninterrupted run. Data workers are seeded
    by mmengine's ``worker_init_fn`` (seed + worker id) when they start; see docs/workflow.md
    ("What survives what") for the loader settings that keep them reproducible too.

    ``tools/train.py`` adds it to every training run that lacks one. Priority ``VERY_HIGH``:
    it runs before any hook that might draw random numbers at the start of an epoch.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed = runner.seed
        if seed is None:
            return
        diff_rank = bool((runner.cfg.get('randomness') or {}).get('diff_rank_seed', False))
        value = epoch_seed(int(seed), runner.epoch, get_rank() if diff_rank else 0)
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)  # also seeds every CUDA device
