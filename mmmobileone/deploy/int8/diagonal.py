"""Quantization-friendly form of re-parameterized 1x1 kernels: the diagonal as its own branch.

Fusing a MobileOne block folds its identity branch (a BatchNorm on the input) into the diagonal
of the 1x1 kernel. Where that BatchNorm scale is large next to the trained 1x1 weights, every
row of the fused kernel is dominated by its diagonal weight (in the quickstart detector up to
700x the median row peak): one INT8 scale per output channel then follows the diagonal and
rounds the rest of the row to zero.

:func:`split_diagonal` rewrites such a ``Conv2d`` (1x1, ``groups=1``, as many outputs as
inputs) into :class:`DiagonalSplitConv`: the kernel with its diagonal zeroed, plus a depthwise
1x1 conv that holds the diagonal (one weight per channel, so per-channel INT8 represents it
exactly), summed. In float the two are the same function (up to float rounding); in INT8 the
dense part keeps its resolution. The cost is one depthwise 1x1 conv and one add per layer.
"""
import logging
from typing import List

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


@torch.no_grad()
def split_diagonal(model: nn.Module) -> List[str]:
    """Replace, in place, every fused MobileOne kernel (a ``branch_reparam`` conv) of ``model``
    that is a square 1x1 conv (:func:`is_square_pointwise`) by :class:`DiagonalSplitConv`;
    returns the names of the replaced modules.

    All of them, not only those with a dominant diagonal: a few dominated rows are enough to
    wreck a layer (the quickstart detector's worst layer has a median diagonal-to-row ratio of 3
    but a weight range of 470), and the split costs little where it is not needed. Other convs
    (heads, necks, SE) are left as they are.
    """
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if name == FUSED_CONV and is_square_pointwise(child):
                setattr(parent, name, DiagonalSplitConv(child))
                replaced.append(f'{parent_name}.{name}' if parent_name else name)
    logger.debug('diagonal split of %d square 1x1 conv(s)', len(replaced))
    return replaced


__all__ = ['DiagonalSplitConv', 'is_square_pointwise', 'split_diagonal']
