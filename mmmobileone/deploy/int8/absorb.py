"""Constant-channel absorption: input channels that INT8 sees as constant go into the bias.

Why (issue 21): in one of ten quickstart detectors (``avx2_seed2``) INT8 lost 0.54-0.66
mAP@0.5 on both runtimes whatever the diagonal split did. Two input channels of the fused 1x1
kernel ``backbone.stage1.1`` are constant on every image (0.93 and 0.38: a ReLU of a bias whose
own input channel is dead), so the identity branch's BatchNorm saw zero variance and fusion
folded it into diagonal weights of 246 and 471 (the rest of the rows stay below 0.4), balanced
by a bias of the opposite sign. In float the two cancel exactly; in INT8 the constant is
rounded to the input tensor's 8-bit grid (step 0.1 for a [0, 25] range), and that rounding
error, multiplied by 471, is a constant offset of about 7 on the output channel, which every
later layer carries (simulated cumulative SQNR 1.5 dB right after that kernel, 7-15 dB at the
head outputs). Splitting the diagonal off does not help: the weight is exact, the input is not.

:func:`absorb_constant_inputs` rewrites every 1x1 ``Conv2d`` (``groups=1``, no padding) whose
input channel ``c`` varies over the calibration images by less than one INT8 step of that
input tensor: the column ``W[:, c]`` times the channel's calibration mean moves into the bias
and the column becomes zero. For a channel that is really constant this is the same function
(and a zero column quantizes exactly); for one that varies by less than a step, INT8 could not
carry its variation anyway, while the offset is now exact (the float network's mAP@0.5 is
unchanged on the ten quickstart detectors and two of the suite's three; on the third, where
near-constant channels of two backbone kernels were absorbed, 0.528 -> 0.523). It adds no
operation and applies to any fused checkpoint.

:func:`replace_dead_filters` handles the input channels that are exactly 0 on every calibration
image (a dead ReLU) in depthwise ``Conv2d`` layers (one input channel per output channel), whose
filters are outliers (peak above :data:`DEAD_OUTLIER_RATIO` times the median peak of the
layer's filters on live channels): such a filter is replaced by one weight, the centre tap,
equal to that median peak. The layer computes the same while the channel stays 0 (zero padding
included: the output channel is its bias), and the channel's INT8 weight scale is typical
instead of huge. Why: the QARepVGG-structured S0 classifier of seed 0 (``quant_friendly=True``)
trained a depthwise filter of 759125 on such a channel (BN after a sum that is always 0 divides
by ``sqrt(eps)``), and XNNPACK refuses to build that INT8 conv
(``xnn_status_unsupported_parameter``: input scale times weight scale over output scale must
stay below 256); with the filter replaced it runs. (Not zeroed: ONNX Runtime's quantizer gives
an all-zero channel weight scale 1, which rounds that channel's bias to steps of the input's
scale.) Dense layers are left alone: there a dead channel is one column among many (and a
folded identity on it is what the diagonal split handles); zeroing the outlier columns of dead
channels in every layer moved the five AVX2-path quickstart detectors by -0.016 to +0.007
mAP@0.5, worst case -0.012 -> -0.018 on ONNX Runtime.
"""
import copy
import logging
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

#: A channel whose calibration spread (max - min) is below this many INT8 steps of its input
#: tensor's range is absorbed.
ABSORB_MAX_STEPS = 1.0
#: A depthwise filter on a dead (always 0) input channel is replaced when its peak exceeds this
#: many times the median peak of the layer's filters on live channels
#: (:func:`replace_dead_filters`).
DEAD_OUTLIER_RATIO = 8.0


def is_pointwise(module: nn.Module) -> bool:
    """A dense 1x1 ``Conv2d`` without padding or dilation (a channel's contribution to it does
    not depend on the position, so a constant channel folds into its bias exactly)."""
    return (type(module) is nn.Conv2d and module.kernel_size == (1, 1) and module.groups == 1
            and module.padding in ((0, 0), 0) and module.dilation == (1, 1))


@torch.no_grad()
def input_channel_stats(model: nn.Module, names: Sequence[str],
                        calibration: Sequence[Tensor]) -> Dict[str, Tuple[Tensor, ...]]:
    """Per input channel of each module ``names``: ``(min, max, mean)`` over ``calibration``."""
    found: Dict[str, list] = {}
    handles = []
    for name in names:
        def hook(mod, args, name=name):
            x = args[0].detach().float()
            values = (x.amin((0, 2, 3)), x.amax((0, 2, 3)), x.sum((0, 2, 3)),
                      x.numel() // x.shape[1])
            old = found.get(name)
            found[name] = list(values) if old is None else [
                torch.minimum(old[0], values[0]), torch.maximum(old[1], values[1]),
                old[2] + values[2], old[3] + values[3]]
        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    try:
        for x in calibration:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {name: (low, high, total / count) for name, (low, high, total, count) in found.items()}


@torch.no_grad()
def absorb_constant_inputs(model: nn.Module, calibration: Sequence[Tensor],
                           max_steps: float = ABSORB_MAX_STEPS,
                           inplace: bool = False) -> Tuple[nn.Module, Dict[str, List[int]]]:
    """Fold the (INT8-)constant input channels of every 1x1 conv into its bias.

    Args:
        model: Eval-mode network (tensor in).
        calibration: Inputs whose activations define "constant".
        max_steps: A channel is constant when its spread over ``calibration`` is below this
            many steps of the 8-bit grid over its input tensor's ``[min(lo, 0), max(hi, 0)]``.
        inplace: Change ``model`` itself instead of a copy.

    Returns:
        ``(model, {conv name: [absorbed input channels]})``; ``model`` is a copy unless
        ``inplace`` (returned as is when nothing is absorbed).

    Raises:
        ValueError: no calibration input.
    """
    calibration = list(calibration)
    if not calibration:
        raise ValueError('constant-channel absorption needs calibration inputs')
    names = [name for name, module in model.named_modules() if is_pointwise(module)]
    if not names:
        return model, {}
    stats = input_channel_stats(model, names, calibration)
    chosen: Dict[str, Tensor] = {}
    for name in names:
        if name not in stats:  # not on the traced path
            continue
        low, high, _ = stats[name]
        step = (high.max().clamp_min(0) - low.min().clamp_max(0)) / 255
        constant = ((high - low) < max_steps * step) & ((high != 0) | (low != 0))
        if constant.any():
            chosen[name] = constant.nonzero().flatten()
    if not chosen:
        return model, {}
    if not inplace:
        model = copy.deepcopy(model)
    for name, channels in chosen.items():
        conv = model.get_submodule(name)
        weight = conv.weight[:, :, 0, 0]
        offset = weight[:, channels] @ stats[name][2][channels].to(weight)
        if conv.bias is None:
            conv.bias = nn.Parameter(torch.zeros_like(offset))
        conv.bias.add_(offset)
        weight[:, channels] = 0
    absorbed = {name: channels.tolist() for name, channels in chosen.items()}
    logger.info('INT8: absorbed %d constant input channel(s) of %d 1x1 conv(s) into the bias '
                '(%s)', sum(map(len, absorbed.values())), len(absorbed),
                ', '.join(f'{n}: {len(c)}' for n, c in absorbed.items()))
    return model, absorbed


def is_depthwise(module: nn.Module) -> bool:
    """A ``Conv2d`` with one input channel per output channel (``groups == in_channels ==
    out_channels``): each output channel's filter reads only its own input channel."""
    return (type(module) is nn.Conv2d and module.groups == module.in_channels
            == module.out_channels)


@torch.no_grad()
def replace_dead_filters(model: nn.Module, calibration: Sequence[Tensor],
                         max_ratio: float = DEAD_OUTLIER_RATIO,
                         inplace: bool = False) -> Tuple[nn.Module, Dict[str, List[int]]]:
    """Replace the outlier depthwise filters whose input channel is exactly 0 on every
    calibration input by one centre tap of the layer's median filter peak (see the module
    docstring): a filter is an outlier when its peak exceeds ``max_ratio`` times the median
    peak of the layer's filters on live channels.

    Returns:
        ``(model, {layer name: [replaced channels]})``; ``model`` is a copy unless ``inplace``
        (returned as is when nothing changes).

    Raises:
        ValueError: no calibration input.
    """
    calibration = list(calibration)
    if not calibration:
        raise ValueError('replacing dead filters needs calibration inputs')
    names = [name for name, module in model.named_modules() if is_depthwise(module)]
    stats = input_channel_stats(model, names, calibration) if names else {}
    chosen: Dict[str, Tuple[List[int], float]] = {}
    for name, (low, high, _) in stats.items():
        weight = model.get_submodule(name).weight.detach()
        dead = (low == 0) & (high == 0)
        peaks = weight.reshape(len(weight), -1).abs().amax(1)
        live = peaks[~dead & (peaks > 0)]
        if not bool(dead.any()) or not len(live):
            continue
        typical = float(live.median())
        outliers = (dead & (peaks > max_ratio * typical)).nonzero().flatten().tolist()
        if outliers:
            chosen[name] = (outliers, typical)
    if not chosen:
        return model, {}
    if not inplace:
        model = copy.deepcopy(model)
    for name, (channels, typical) in chosen.items():
        weight = model.get_submodule(name).weight
        kh, kw = weight.shape[-2:]
        for channel in channels:
            weight[channel].zero_()
            weight[channel, 0, kh // 2, kw // 2] = typical
    replaced = {name: channels for name, (channels, _) in chosen.items()}
    logger.info('INT8: replaced %d outlier depthwise filter(s) on dead (always 0) channels by a '
                'typical centre tap (%s)', sum(map(len, replaced.values())),
                ', '.join(f'{n}: {len(c)}' for n, c in replaced.items()))
    return model, replaced


__all__ = ['ABSORB_MAX_STEPS', 'DEAD_OUTLIER_RATIO', 'absorb_constant_inputs',
           'input_channel_stats', 'is_depthwise', 'is_pointwise', 'replace_dead_filters']
