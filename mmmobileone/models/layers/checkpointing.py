"""Activation checkpointing that leaves BatchNorm running statistics as the plain forward does.

``torch.utils.checkpoint`` runs a module's forward a second time in backward. A BatchNorm in
training mode would update its running mean and variance (and ``num_batches_tracked``) again
on that second run, so a checkpointed network would end with other statistics than the plain
one. :func:`recompute_without_running_stats` gives the recomputation a context in which the
training-mode BatchNorms of a module normalise with batch statistics, as before, but keep their
running statistics untouched (bit for bit).
"""
import contextlib
import functools
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def _frozen_running_stats(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Within the context, training-mode BatchNorms of ``modules`` leave their statistics as
    they are.

    The norms run with momentum 0, so ``F.batch_norm`` still receives (and saves for backward)
    the running buffers, as in the plain forward that the recomputation must match tensor for
    tensor, while its update ``(1 - 0) * running + 0 * batch`` rewrites them with their own
    values; ``num_batches_tracked`` is put back afterwards. Eval-mode norms (frozen stages,
    ``norm_eval``) read their running statistics and are left alone.
    """
    changed: List[Tuple[_BatchNorm, Optional[float], Optional[Tensor]]] = []
    for norm in (m for module in modules for m in module.modules()):
        if isinstance(norm, _BatchNorm) and norm.training and norm.track_running_stats:
            tracked = norm.num_batches_tracked
            changed.append((norm, norm.momentum, None if tracked is None else tracked.clone()))
            norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, momentum, tracked in changed:
            norm.momentum = momentum
            if tracked is not None:
                norm.num_batches_tracked.copy_(tracked)


def recompute_without_running_stats(
        modules: Sequence[nn.Module]) -> Tuple[contextlib.AbstractContextManager,
                                               contextlib.AbstractContextManager]:
    """``context_fn`` for ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``.

    Returns the (forward, recomputation) context pair: the forward runs as usual; the
    recomputation in backward does not update the BatchNorm running statistics of
    ``modules``.
    """
    return contextlib.nullcontext(), _frozen_running_stats(modules)


def _run(modules: Sequence[nn.Module], x: Tensor) -> Tensor:
    for module in modules:
        x = module(x)
    return x


def checkpointed(modules: Sequence[nn.Module], x: Tensor) -> Tensor:
    """Run ``modules`` in sequence on ``x``, keeping only ``x`` for backward (activation
    checkpointing) when gradients are being recorded; the recomputation leaves BatchNorm
    running statistics as they are, so outputs, gradients and statistics equal the plain
    sequence's bit for bit."""
    if not torch.is_grad_enabled():
        return _run(modules, x)
    return cp.checkpoint(_run, modules, x, use_reentrant=False,
                         context_fn=functools.partial(recompute_without_running_stats,
                                                      modules))
