"""Random state that a resumed run can repeat: ``EpochSeedHook``."""
import random
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from ...registry import HOOKS

#: Multiplier that spreads the epoch seeds away from the per-worker seeds (seed + worker id).
EPOCH_STRIDE = 1_000_003


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of the main process for (0-based) ``epoch``."""
    return (seed + EPOCH_STRIDE * (epoch + 1) + rank) % 2**32


def iteration_seed(seed: int, iteration: int, rank: int = 0) -> int:
    """The seed of the main process for (0-based) ``iteration`` of an iteration-based loop.

    Args:
        seed: The run's seed.
        iteration: Iterations done before this one (``runner.iter``).
        rank: The process's rank (0 unless ``randomness.diff_rank_seed``).

    Returns:
        An integer in ``[0, 2**32)``, a pure function of the arguments.
    """
    state = np.random.SeedSequence((int(seed), int(iteration), int(rank), 1)).generate_state(1)
    return int(state[0])


def _seed_main_process(value: int) -> None:
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)  # also seeds every CUDA device


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed the main process (``random``, NumPy, torch) at the start of every train epoch,
    and in iteration-based loops before every iteration.

    A checkpoint holds the weights, the optimizer, the schedulers and the message hub, but not
    the random generators of the main process, which draw batch augments (Mixup, CutMix),
    dropout and drop-path. With this hook each epoch starts from ``epoch_seed(runner.seed,
    epoch)``, so a run resumed from an epoch checkpoint draws the same numbers as the
    uninterrupted run. An iteration-based loop (``IterBasedTrainLoop``) is one long epoch that
    resumes in the middle, so there every iteration starts from ``iteration_seed(runner.seed,
    runner.iter)`` instead.

    The data pipelines' random numbers are the sampler's business: with
    ``mmmobileone.SeededSampler`` / ``SeededInfiniteSampler`` every sample is seeded from
    (seed, epoch, index), in the workers or in the main process, without touching the main
    process's random state; without them, ``num_workers=0`` pipelines draw from the main
    process's generators, which this hook also makes repeatable. See docs/workflow.md ("What
    survives what").

    Declared by every shipped config (``configs/_base_/runtime_safeguards.py``,
    ``default_hooks.epoch_seed``). Priority ``VERY_HIGH``:
    it runs before any hook that might draw random numbers at the start of an epoch.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _rank(runner) -> int:
        diff_rank = bool((runner.cfg.get('randomness') or {}).get('diff_rank_seed', False))
        return get_rank() if diff_rank else 0

    def before_train_epoch(self, runner) -> None:
        if runner.seed is None:
            return
        _seed_main_process(epoch_seed(int(runner.seed), runner.epoch, self._rank(runner)))

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        if runner.seed is None or isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        _seed_main_process(iteration_seed(int(runner.seed), runner.iter, self._rank(runner)))
