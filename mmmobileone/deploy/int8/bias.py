"""Empirical bias correction: move the mean INT8 error of every layer into its bias.

Rounding weights and activations to 8 bits leaves each output channel of a layer off by a mean
offset as well as by noise: the rounding of a channel's weights is fixed, so it adds
``dW @ E[x]`` on average, and noise in front of a ReLU raises the mean of what follows it
(Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias Correction", 2019,
section 4.2; the empirical form measures the offset on calibration data). Later layers carry
the offset on; the classifier's logits or the detector's scores then shift.

:func:`correct_bias` simulates the INT8 network in PyTorch the way :mod:`.sqnr` does (symmetric
per-channel weights, affine 8-bit input activations over the calibration min / max) on the
calibration inputs as one batch, layer by layer in network order: each layer's simulated output
is compared with the float network's at the same layer, the per-channel difference of the means
is subtracted from its bias, and the corrected output is what the next layers see. The float
network then computes a slightly different function, whose INT8 version is on average the float
one's. The weights are not changed, so the INT8 weights the runtimes store are the same.

The simulated ranges are min / max, as ONNX Runtime calibrates; ExecuTorch's XNNPACK quantizer
observes histograms and may clip, so there the offsets are those of a close, not the same,
quantizer (docs/deployment.md, section 5, has both runtimes' results). A layer run more than once
per forward (a head shared by levels) keeps its bias: one bias cannot carry several offsets.
"""
import copy
import logging
from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from .diagonal import DiagonalSplitConv
from .sqnr import (_forward, _hooks, _layers, _quantized_weight, fake_quant_activation,
                   observe_ranges)

logger = logging.getLogger(__name__)

#: The simulation runs the calibration inputs as one batch: at most this many pixels of them
#: (32 images at 320x320, the detectors' calibration; fewer images of larger inputs are used).
MAX_BATCH_PIXELS = 32 * 320 * 320


def _channel_mean(module: nn.Module, y: Tensor) -> Tensor:
    """Mean over everything but the output channel axis (dim 1 of a conv output, the last of a
    linear one)."""
    axis = -1 if isinstance(module, nn.Linear) else 1
    return y.movedim(axis, 0).reshape(y.shape[axis], -1).mean(1)


def _bias_of(module: nn.Module) -> nn.Parameter:
    """The bias that the layer's output offset goes into (created as zeros if missing)."""
    target = module.conv if isinstance(module, DiagonalSplitConv) else module
    if target.bias is None:
        channels = target.out_features if isinstance(target, nn.Linear) else target.out_channels
        target.bias = nn.Parameter(torch.zeros(channels, dtype=target.weight.dtype,
                                               device=target.weight.device))
    return target.bias


def _shaped(module: nn.Module, offset: Tensor, y: Tensor) -> Tensor:
    """``offset`` broadcastable against the layer output ``y``."""
    if isinstance(module, nn.Linear):
        return offset
    return offset.view(1, -1, *([1] * (y.dim() - 2)))


@torch.no_grad()
def correct_bias(model: nn.Module, calibration: Sequence[Tensor],
                 keep_float: Sequence[str] = (), per_channel: bool = True) -> Dict[str, float]:
    """Subtract each layer's mean simulated INT8 error (per output channel) from its bias, in
    place (:func:`bias_corrected` makes a copy).

    Args:
        model: Eval-mode, fused network (tensor in), as it is quantized (after absorption and
            the diagonal split).
        calibration: The calibration inputs: their ranges are observed on all of them, the
            offsets on one batch of the first :data:`MAX_BATCH_PIXELS` pixels' worth.
        keep_float: Modules left in float by the export (not simulated, not corrected).
        per_channel: Weights quantized per output channel (``False``: per tensor), as the
            export will.

    Returns:
        ``{layer name: largest |offset| subtracted}`` in network order.

    Raises:
        ValueError: no calibration input.
    """
    calibration = list(calibration)
    if not calibration:
        raise ValueError('bias correction needs calibration inputs')
    model = model.eval()
    layers = _layers(model, keep_float)
    ranges = observe_ranges(model, layers, calibration)
    pixels = calibration[0].shape[0] * calibration[0].shape[-2:].numel()
    used = calibration[:max(1, MAX_BATCH_PIXELS // pixels)]
    if len(used) < len(calibration):
        logger.info('INT8: bias correction on %d of the %d calibration inputs (memory)',
                    len(used), len(calibration))
    batch = torch.cat(used)
    float_means: Dict[str, Tensor] = {}
    shared = set()  # layers run more than once per forward (a head shared by levels)

    def record(mod, args, out, name):
        if name in float_means:
            shared.add(name)
        float_means[name] = _channel_mean(mod, out)

    with _hooks([(m.register_forward_hook,
                  lambda mod, args, out, n=n: record(mod, args, out, n)) for n, m in layers]):
        model(batch)
    if shared:
        logger.info('INT8: no bias correction for %d layer(s) run more than once per forward '
                    '(%s)', len(shared), ', '.join(sorted(shared)))
    weights = {n: _quantized_weight(m, per_channel) for n, m in layers}
    offsets: Dict[str, float] = {}

    def simulate(mod, args, out, name):
        if name not in float_means:  # not on the traced path
            return out
        low, high = ranges[name]
        y = _forward(mod, fake_quant_activation(args[0], low, high), weights[name])
        if name in shared:  # one bias, several inputs: left as it is
            return y
        offset = _channel_mean(mod, y) - float_means[name]
        _bias_of(mod).sub_(offset.to(y.dtype))
        offsets[name] = float(offset.abs().max())
        return y - _shaped(mod, offset, y)

    with _hooks([(m.register_forward_hook,
                  lambda mod, args, out, n=n: simulate(mod, args, out, n)) for n, m in layers]):
        model(batch)
    logger.info('INT8: bias correction of %d layer(s), largest offset %.3g (%s)', len(offsets),
                max(offsets.values(), default=0.0),
                max(offsets, key=offsets.get, default='none'))
    return offsets


def bias_corrected(model: nn.Module, calibration: Sequence[Tensor],
                   keep_float: Sequence[str] = (), per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with :func:`correct_bias` applied; ``model`` is not changed."""
    model = copy.deepcopy(model)
    correct_bias(model, calibration, keep_float, per_channel)
    return model


__all__ = ['MAX_BATCH_PIXELS', 'bias_corrected', 'correct_bias']
