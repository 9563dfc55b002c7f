"""Squeeze-and-excitation layer with mmpretrain's parameter names."""
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor


def make_divisible(value: float, divisor: int = 8, min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``).

    Never rounds down by more than ``1 - min_ratio``. Same rule as mmpretrain and timm, so the
    squeeze width (and the checkpoint shapes) match theirs.
    """
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


class SqueezeExcitation(BaseModule):
    """SE-ReLU: global average pool, 1x1 conv + ReLU, 1x1 conv + sigmoid, channel rescale.

    Parameter names (``conv1.conv.*``, ``conv2.conv.*``) equal mmpretrain's ``SELayer``. The pool
    is a mean over the spatial dimensions, so ONNX export keeps the input size dynamic (unlike a
    fixed-size ``avg_pool2d``).

    Args:
        channels: Input and output channels.
        ratio: Squeeze ratio; the hidden width is ``make_divisible(channels // ratio, 8)``.
    """

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        squeeze = make_divisible(channels // ratio, 8)
        self.conv1 = ConvModule(channels, squeeze, 1, bias=True, act_cfg=dict(type='ReLU'))
        self.conv2 = ConvModule(squeeze, channels, 1, bias=True, act_cfg=dict(type='Sigmoid'))

    def forward(self, x: Tensor) -> Tensor:
        weight = x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv2(self.conv1(weight))
