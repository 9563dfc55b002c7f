"""Train-time 1x1 and identity branches computed from the input's moments.

A 1x1 conv-BN branch in training mode normalises ``y = W x`` with the batch mean and variance
of ``y``. Both follow from the input's moments, exactly: ``mean(y) = W mean(x)`` and
``var(y) = diag(W Cov(x) W^T)`` (per channel ``w^2 var(x)`` for a depthwise 1x1), and the
identity branch's are those of ``x`` itself. So the sum of all such branches of a unit is one
affine map of the centred input, ``sum_i a_i W_i (x - mean(x)) + sum_i beta_i`` with
``a_i = gamma_i / sqrt(var_i + eps)``: one conv (or one per-channel multiply-add) instead of one
conv and one BatchNorm per branch, and no branch output kept for backward. Autograd
differentiates through the moments, so gradients are those of the per-branch form; running
statistics are updated as ``nn.BatchNorm2d`` does (momentum or cumulative average, unbiased
variance). Only the rounding differs from the looped form.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Gram(torch.autograd.Function):
    """``sum_n X_n X_n^T`` of a ``(N, C, L)`` tensor; backward in one product
    (``dX_n = (dG + dG^T) X_n``) instead of autograd's two."""

    @staticmethod
    def forward(ctx, flat: Tensor) -> Tensor:
        ctx.save_for_backward(flat)
        return torch.matmul(flat, flat.transpose(1, 2)).sum(0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        flat, = ctx.saved_tensors
        grad = grad + grad.t()
        return torch.matmul(grad.to(flat.dtype), flat)


def pointwise_moments_pay_off(num_convs: int, in_channels: int, out_channels: int,
                              count: int) -> bool:
    """Whether the moment form of a dense 1x1 unit takes fewer multiply-adds (forward and
    backward) than its looped branches, for ``count`` pixels per channel in the batch.

    Looped: ``k`` convs, each with two products in backward. Moment form: one Gram matrix
    (``C_in^2`` per pixel, one product in backward), one conv, and ``k`` products
    ``W_i Cov`` of size ``C_out x C_in x C_in`` independent of the pixel count.
    """
    looped = 3 * num_convs * out_channels * in_channels * count
    moments = (3 * out_channels * in_channels * count + 2 * in_channels**2 * count +
               3 * num_convs * out_channels * in_channels**2)
    return moments < looped


def supports_moments(norm: Optional[nn.Module]) -> bool:
    """Whether ``norm`` is a plain affine ``BatchNorm2d`` in training mode (not SyncBN, whose
    statistics span processes, nor a frozen / eval-mode norm)."""
    return (type(norm) is nn.BatchNorm2d and norm.training and norm.affine)


def _scale_and_update(norm: nn.BatchNorm2d, mean: Tensor, var: Tensor, count: int) -> Tensor:
    """``gamma / sqrt(var + eps)`` of a training-mode BatchNorm whose input has batch ``mean``
    and biased variance ``var`` over ``count`` values per channel; updates its running
    statistics as ``nn.BatchNorm2d.forward`` would."""
    if norm.track_running_stats:
        with torch.no_grad():
            norm.num_batches_tracked.add_(1)
            factor = (1.0 / norm.num_batches_tracked if norm.momentum is None else
                      norm.momentum)
            norm.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
            unbiased = var.detach() * (count / (count - 1))
            norm.running_var.mul_(1 - factor).add_(unbiased * factor)
    return norm.weight * torch.rsqrt(var + norm.eps)


def moment_branch_sum(x: Tensor, weights: Sequence[Tensor], norms: Sequence[nn.BatchNorm2d],
                      identity: Optional[nn.BatchNorm2d], groups: int,
                      stride: int = 1) -> Tensor:
    """Sum of the 1x1 conv-BN branches ``norms[i](conv(x, weights[i], stride))`` and of the
    BN-only ``identity`` branch, all in training mode, from the moments of ``x``.

    Args:
        x: Unit input, ``(N, C, H, W)``.
        weights: 1x1 kernels, ``(C_out, C / groups, 1, 1)``.
        norms: The branches' BatchNorms (see :func:`supports_moments`).
        identity: The identity branch's BatchNorm (needs ``C_out == C`` and ``stride == 1``).
        groups: 1 (dense) or ``C`` (depthwise, ``C_out == C``).
        stride: Stride of the 1x1 convs (padding 0).
    """
    if x.dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(x.device.type):
        # statistics over a whole batch overflow or lose digits in half precision (a Gram
        # entry sums N*H*W products): the moment form runs in float32, like BatchNorm's
        with torch.autocast(x.device.type, enabled=False):
            return _moment_branch_sum(x.float(), [w.float() for w in weights], norms, identity,
                                      groups, stride).to(x.dtype)
    return _moment_branch_sum(x, weights, norms, identity, groups, stride)


def _moment_branch_sum(x: Tensor, weights: Sequence[Tensor], norms: Sequence[nn.BatchNorm2d],
                       identity: Optional[nn.BatchNorm2d], groups: int, stride: int) -> Tensor:
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(dim=(0, 2, 3))
    centred = x - mean.reshape(1, -1, 1, 1)
    shift = sum(norm.bias for norm in norms)
    if identity is not None:
        shift = shift + identity.bias
    if groups == 1:
        flat = centred.flatten(2)
        cov = _Gram.apply(flat) / count
        weight: Tensor = 0
        for kernel, norm in zip(weights, norms):
            kernel = kernel.flatten(1)
            var = (torch.mm(kernel, cov) * kernel).sum(1)
            scale = _scale_and_update(norm, torch.mv(kernel.detach(), mean.detach()), var,
                                      count)
            weight = weight + scale[:, None] * kernel
        if identity is not None:
            weight = weight + torch.diag(_scale_and_update(identity, mean, cov.diagonal(),
                                                           count))
        return F.conv2d(centred, weight[:, :, None, None], shift)
    var_x = centred.square().mean(dim=(0, 2, 3))
    coefficient: Tensor = 0
    for kernel, norm in zip(weights, norms):
        kernel = kernel.flatten()
        scale = _scale_and_update(norm, kernel.detach() * mean.detach(), kernel.square() * var_x,
                                  count)
        coefficient = coefficient + scale * kernel
    if identity is not None:
        coefficient = coefficient + _scale_and_update(identity, mean, var_x, count)
    return torch.addcmul(shift.reshape(1, -1, 1, 1), centred, coefficient.reshape(1, -1, 1, 1))
