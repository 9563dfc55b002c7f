"""Stop a diverged run at once: ``FiniteLossHook``."""
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from ...errors import ConfigError
from ...registry import HOOKS
from .checkpoint_hook import TrainingDivergedError


def _lr_text(runner) -> str:
    try:
        lrs = runner.optim_wrapper.get_lr()
    except (AttributeError, TypeError):
        return 'unknown'
    values = [v for group in lrs.values() for v in (group if isinstance(group, list) else [group])]
    return f'{values[0]:.4g}' if values else 'unknown'


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training with one clear error as soon as the loss is NaN or infinite.

    mmdet's ``CheckInvalidLossHook`` checks every 50 iterations (and fails with a bare
    ``AssertionError``); a diverged run keeps going until then and writes non-finite
    checkpoints. This hook checks the (already computed, scalar) loss after every ``interval``
    iterations, before the EMA, logger and checkpoint hooks run (priority ``VERY_HIGH``), and
    raises :class:`TrainingDivergedError` (an ``MMMobileOneError``: the tools log it as one line and
    exit with status 1) naming the iteration, the loss terms and the learning rate. Under DDP
    every rank stops together (the verdict is all-reduced).

    Declared by every shipped config (``configs/_base_/runtime_safeguards.py``,
    ``default_hooks.finite_loss``).

    Args:
        interval: Check every ``interval`` iterations (default: every iteration).
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'FiniteLossHook interval must be a positive int, got {interval!r}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        losses = {k: v for k, v in outputs.items() if torch.is_tensor(v) and 'loss' in k}
        bad = {k: v for k, v in losses.items() if not bool(torch.isfinite(v).all())}
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag)
            if flag.item() == 0:
                return
        elif not bad:
            return
        shown = bad or {'loss on another rank': torch.tensor(math.nan)}
        terms = ', '.join(f'{k} {v.float().mean().item():g}' for k, v in shown.items())
        raise TrainingDivergedError(
            f'training diverged: non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): {terms}; lr {_lr_text(runner)}. Stopped before writing any '
            'checkpoint after it: lower the learning rate (optim_wrapper.optimizer.lr) or check '
            'the data')
