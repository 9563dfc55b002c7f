"""Quantization-friendly form of re-parameterized 1x1 kernels: the diagonal as its own branch.

Fusing a MobileOne block folds its identity branch (a BatchNorm on the input) into the diagonal
of the 1x1 kernel, with weight ``gamma / sqrt(var + eps)``. On an input channel that a ReLU has
killed (``var = 0``) that weight is huge (150-320 in the quickstart detector's stage1.1, where
the rest of the row stays below 0.34) and multiplies zero: it adds nothing to the output, yet one
INT8 scale per output channel follows it and rounds the rest of the row, which carries the
whole output, to zero.

:func:`split_diagonal` rewrites such a ``Conv2d`` (1x1, ``groups=1``, as many outputs as
inputs) into :class:`DiagonalSplitConv`: the kernel with its diagonal zeroed, plus a depthwise
1x1 conv that holds the diagonal (one weight per channel, so per-channel INT8 represents it
exactly), summed. In float the two are the same function (up to float rounding); in INT8 the
dense part keeps its resolution. The cost is one depthwise 1x1 conv and one add per layer, so
the exports split only where the simulated SQNR gains enough (:func:`.quantize.int8_ready`).
"""
import logging
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from ...models.reparam import FUSED_CONV

logger = logging.getLogger(__name__)


class DiagonalSplitConv(nn.Module):
    """``conv(x) + diagonal(x)``: a 1x1 conv without its diagonal and a depthwise 1x1 conv.

    Args:
        conv: The 1x1, ``groups=1`` conv with ``in_channels == out_channels`` to split.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not is_square_pointwise(conv):
            raise ValueError(f'expected a square 1x1 conv with groups=1, got {conv}')
        channels = conv.out_channels
        weight = conv.weight.detach()
        index = torch.arange(channels)
        self.conv = nn.Conv2d(channels, channels, 1, stride=conv.stride,
                              bias=conv.bias is not None).to(weight)
        self.diagonal = nn.Conv2d(channels, channels, 1, stride=conv.stride, groups=channels,
                                  bias=False).to(weight)
        with torch.no_grad():
            dense = weight.clone()
            dense[index, index] = 0
            self.conv.weight.copy_(dense)
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias.detach())
            self.diagonal.weight.copy_(weight[index, index].reshape(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.diagonal(x)


def is_square_pointwise(module: nn.Module) -> bool:
    """A ``Conv2d`` 1x1 with ``groups=1``, no padding or dilation and ``in == out`` channels."""
    return (type(module) is nn.Conv2d and module.kernel_size == (1, 1) and module.groups == 1
            and module.in_channels == module.out_channels and module.padding in ((0, 0), 0)
            and module.dilation == (1, 1) and module.padding_mode == 'zeros')


def square_fused_kernels(model: nn.Module) -> List[str]:
    """Names of the fused MobileOne kernels (``branch_reparam`` convs) of ``model`` that are
    square 1x1 convs (:func:`is_square_pointwise`): the ones a diagonal split applies to.
    Other convs (heads, necks, SE) never carry a folded identity branch."""
    return [name for name, module in model.named_modules()
            if name.split('.')[-1] == FUSED_CONV and is_square_pointwise(module)]


@torch.no_grad()
def split_diagonal(model: nn.Module, names: Optional[Sequence[str]] = None) -> List[str]:
    """Replace, in place, the square 1x1 fused kernels ``names`` of ``model`` (default: all of
    :func:`square_fused_kernels`) by :class:`DiagonalSplitConv`; returns the replaced names.

    Raises:
        ValueError: a name that is not a square 1x1 fused kernel of ``model``.
    """
    candidates = square_fused_kernels(model)
    names = candidates if names is None else list(names)
    unknown = sorted(set(names) - set(candidates))
    if unknown:
        raise ValueError(f'not square 1x1 fused kernels of the model: {", ".join(unknown)}')
    for name in names:
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, DiagonalSplitConv(getattr(parent, child)))
    logger.debug('diagonal split of %d of %d square 1x1 fused kernel(s)', len(names),
                 len(candidates))
    return names


__all__ = ['DiagonalSplitConv', 'is_square_pointwise', 'split_diagonal', 'square_fused_kernels']
