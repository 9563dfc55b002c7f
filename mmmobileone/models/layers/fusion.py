"""Exact algebra of re-parameterization: folding BatchNorm into convolutions.

Every function works in a wide accumulation dtype (float64 where the device supports it, at
least float32) so that half-precision or bfloat16 models fuse without extra rounding; the caller
casts the result back to the model's dtype.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """Return the dtype used to fold kernels on ``device``.

    float64 on CPU and CUDA; float32 elsewhere (e.g. MPS has no float64).
    """
    return torch.float64 if device.type in ('cpu', 'cuda') else torch.float32


def bn_scale_shift(bn: _BatchNorm, dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """Per-channel ``(scale, shift)`` such that ``bn(x) == scale * x + shift`` in eval mode.

    Works for any BatchNorm subclass (``BatchNorm2d``, ``SyncBatchNorm``, ...), with or without
    affine parameters.

    Raises:
        ConfigError: if the norm layer keeps no running statistics (``track_running_stats=False``),
            whose eval-mode output depends on the batch and so cannot be folded.
    """
    if not isinstance(bn, _BatchNorm):
        raise TypeError(f'can only fold BatchNorm layers, got {type(bn).__name__}')
    if bn.running_mean is None or bn.running_var is None:
        raise ConfigError(
            f'{type(bn).__name__}({bn.num_features}) has track_running_stats=False: its output '
            'depends on the batch, so it cannot be folded into a convolution')
    mean = bn.running_mean.to(dtype)
    std = (bn.running_var.to(dtype) + bn.eps).sqrt()
    gamma = bn.weight.to(dtype) if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.to(dtype) if bn.bias is not None else torch.zeros_like(mean)
    scale = gamma / std
    return scale, beta - mean * scale


def fold_conv_bn(conv_weight: Tensor, bn: _BatchNorm,
                 dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """Fold ``bn`` into a bias-free convolution; return ``(weight, bias)`` in ``dtype``."""
    scale, shift = bn_scale_shift(bn, dtype)
    return conv_weight.to(dtype) * scale.reshape(-1, 1, 1, 1), shift


def identity_kernel(channels: int, groups: int, kernel_size: int, dtype: torch.dtype,
                    device: Optional[torch.device] = None) -> Tensor:
    """Kernel of a grouped ``kernel_size`` convolution that returns its input unchanged.

    One centre tap per output channel, on its own input channel within the group.
    """
    in_per_group = channels // groups
    kernel = torch.zeros(channels, in_per_group, kernel_size, kernel_size, dtype=dtype,
                         device=device)
    centre = kernel_size // 2
    index = torch.arange(channels, device=device)
    kernel[index, index % in_per_group, centre, centre] = 1
    return kernel


def pad_to_kernel(weight: Tensor, kernel_size: int) -> Tensor:
    """Zero-pad a square kernel (odd size) to ``kernel_size`` around its centre."""
    pad = (kernel_size - weight.shape[-1]) // 2
    if pad < 0:
        raise ValueError(f'cannot pad a {weight.shape[-1]}x{weight.shape[-1]} kernel to '
                         f'{kernel_size}x{kernel_size}')
    return nn.functional.pad(weight, [pad] * 4) if pad else weight
