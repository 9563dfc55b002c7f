"""Per-layer INT8 quantization error (SQNR) of a fused network, simulated in PyTorch.

Every ``Conv2d`` / ``Linear`` is quantized the way the XNNPACK and ONNX Runtime INT8 exports do
it: symmetric INT8 weights (per output channel, or per tensor for comparison) and an affine
8-bit input activation whose range is the min / max observed over the calibration inputs.
SQNR (signal-to-quantization-noise ratio, dB) is ``10 log10(sum y^2 / sum (y - y_q)^2)`` of a
layer's output ``y`` over the evaluation inputs:

* ``isolated``: that layer alone quantized, on the float network's own input to it;
* ``isolated_tensor``: the same with one weight scale per tensor instead of per channel;
* ``cumulative``: every layer quantized (the INT8 network), compared at that layer's output;
* ``weight_range``: ``max |W|`` over the median of the per-channel ``max |W_c|``: how much a
  per-tensor scale would waste on the typical channel (the folded identity branch and BN
  scales of a re-parameterized kernel make it large).

``keep_float`` leaves modules (and everything in them) unquantized, as the exports do. A
:class:`~.diagonal.DiagonalSplitConv` counts as one layer (both parts quantized, one input),
its weight range is that of its dense part.
"""
import contextlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..outputs import as_tuple
from .diagonal import DiagonalSplitConv, square_fused_kernels

QMAX_WEIGHT = 127
#: ``keep_float=['auto']`` keeps the layers whose isolated per-channel SQNR is below this (dB).
AUTO_KEEP_FLOAT_DB = 20.0
#: The ``'auto'`` diagonal split splits the square 1x1 fused kernels whose isolated
#: per-channel SQNR it raises by at least this (dB; 6 dB is one bit).
AUTO_SPLIT_GAIN_DB = 6.0


@dataclass
class LayerSQNR:
    name: str
    family: str
    isolated: float
    isolated_tensor: float
    cumulative: float
    weight_range: float


def _db(signal: float, noise: float) -> float:
    if noise <= 0:
        return math.inf
    return 10 * math.log10(max(signal, 1e-30) / noise)


def fake_quant_weight(weight: Tensor, per_channel: bool = True) -> Tensor:
    """Symmetric INT8 (``[-127, 127]``) fake quantization, one scale per output channel or one."""
    flat = weight.reshape(weight.shape[0], -1)
    peak = flat.abs().amax(1) if per_channel else flat.abs().amax().expand(weight.shape[0])
    scale = (peak / QMAX_WEIGHT).clamp_min(1e-12)
    shape = (-1, ) + (1, ) * (weight.dim() - 1)
    return (weight / scale.view(shape)).round().clamp(-QMAX_WEIGHT,
                                                      QMAX_WEIGHT) * scale.view(shape)


def fake_quant_activation(x: Tensor, low: float, high: float) -> Tensor:
    """Affine 8-bit fake quantization over ``[min(low, 0), max(high, 0)]``."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max((high - low) / 255, 1e-12)
    zero = round(-low / scale)
    return ((x / scale).round() + zero).clamp(0, 255).sub(zero) * scale


def _quantized_weight(module: nn.Module, per_channel: bool = True):
    """The fake-quantized weight of a layer (a pair for a :class:`DiagonalSplitConv`)."""
    if isinstance(module, DiagonalSplitConv):
        return (fake_quant_weight(module.conv.weight, per_channel),
                fake_quant_weight(module.diagonal.weight, per_channel))
    return fake_quant_weight(module.weight, per_channel)


def _weight(module: nn.Module) -> Tensor:
    """The weight whose range matters (the dense part of a diagonal split)."""
    return module.conv.weight if isinstance(module, DiagonalSplitConv) else module.weight


def weight_range(weight: Tensor) -> float:
    per_channel = weight.reshape(weight.shape[0], -1).abs().amax(1)
    return float(per_channel.max() / per_channel.median().clamp_min(1e-12))


def layer_family(name: str, module: nn.Module) -> str:
    """``stem``, ``depthwise 3x3``, ``pointwise 1x1``, ``SE``, ``classifier`` (Linear),
    ``head/neck conv`` (outside the backbone), ``other conv``."""
    if isinstance(module, nn.Linear):
        return 'classifier (linear)'
    if isinstance(module, DiagonalSplitConv):
        return 'pointwise 1x1'
    if '.se.' in f'.{name}.' or 'se_' in name or '.se' in name:
        return 'SE'
    if 'backbone' not in name:
        return 'head/neck conv'
    if 'stage0' in name or 'stem' in name:
        return 'stem'
    if module.groups > 1 and module.groups == module.in_channels:
        return f'depthwise {module.kernel_size[0]}x{module.kernel_size[1]}'
    if module.kernel_size == (1, 1):
        return 'pointwise 1x1'
    return 'other conv'


def _forward(module: nn.Module, x: Tensor, weight) -> Tensor:
    if isinstance(module, DiagonalSplitConv):
        return (module.conv._conv_forward(x, weight[0], module.conv.bias)
                + module.diagonal._conv_forward(x, weight[1], None))
    if isinstance(module, nn.Linear):
        return nn.functional.linear(x, weight, module.bias)
    return module._conv_forward(x, weight, module.bias)


def _layers(model: nn.Module, keep_float: Sequence[str]) -> List[Tuple[str, nn.Module]]:
    def kept(name):
        return any(name == k or name.startswith(k + '.') for k in keep_float)

    split = [n for n, m in model.named_modules() if isinstance(m, DiagonalSplitConv)]

    def inside_split(name):  # a split kernel is one layer: its two convs share one input
        return any(name.startswith(p + '.') for p in split)

    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear, DiagonalSplitConv)) and not kept(n)
            and not inside_split(n)]


@contextlib.contextmanager
def _hooks(registrations: Sequence[Tuple[Callable, Callable]]) -> Iterator[None]:
    """Register ``(register_method, hook)`` pairs for the block; always removed after it."""
    handles = [register(hook) for register, hook in registrations]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def observe_ranges(model: nn.Module, layers, calibration: Sequence[Tensor]) -> Dict[str, list]:
    """Min / max of every layer's input over ``calibration``."""
    ranges: Dict[str, list] = {}
    hooks = []
    for name, module in layers:
        def hook(mod, args, name=name):
            x = args[0]
            low, high = float(x.min()), float(x.max())
            old = ranges.get(name)
            ranges[name] = [min(low, old[0]), max(high, old[1])] if old else [low, high]
        hooks.append((module.register_forward_pre_hook, hook))
    with _hooks(hooks):
        for x in calibration:
            model(x)
    return ranges


@torch.no_grad()
def sqnr_study(model: nn.Module, calibration: Sequence[Tensor], evaluation: Sequence[Tensor],
               keep_float: Sequence[str] = (),
               per_channel: bool = True) -> Tuple[List[LayerSQNR], Dict[str, float]]:
    """Per-layer SQNR of ``model`` (eval mode, fused); see the module docstring.

    ``per_channel=False`` quantizes the weights of the whole network (``cumulative`` and the
    outputs) with one scale per tensor, the naive scheme.

    Returns:
        ``(layers, outputs)``: one :class:`LayerSQNR` per quantized layer in network order, and
        the SQNR of each network output (``output_i``) with every layer quantized.
    """
    model = model.eval()
    layers = _layers(model, keep_float)
    ranges = observe_ranges(model, layers, calibration)
    acc = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])  # signal, iso, iso_t, cum_signal, cum
    out_acc = defaultdict(lambda: [0.0, 0.0])
    quantized_w = {n: _quantized_weight(m, per_channel) for n, m in layers}
    for x in evaluation:
        float_outputs: Dict[str, Tensor] = {}
        hooks = []
        for name, module in layers:
            def isolated(mod, args, out, name=name):
                low, high = ranges[name]
                xq = fake_quant_activation(args[0], low, high)
                a = acc[name]
                a[0] += float(out.pow(2).sum())
                a[1] += float((out - _forward(mod, xq, _quantized_weight(mod))).pow(2).sum())
                a[2] += float((out - _forward(mod, xq, _quantized_weight(
                    mod, per_channel=False))).pow(2).sum())
                float_outputs[name] = out
            hooks.append((module.register_forward_hook, isolated))
        with _hooks(hooks):
            reference = as_tuple(model(x))
        hooks = []
        for name, module in layers:
            def quantized(mod, args, name=name):
                low, high = ranges[name]
                return _forward(mod, fake_quant_activation(args[0], low, high),
                                quantized_w[name])

            def compare(mod, args, out, name=name):
                a = acc[name]
                a[3] += float(float_outputs[name].pow(2).sum())
                a[4] += float((float_outputs[name] - out).pow(2).sum())
            hooks.append((module.register_forward_hook,
                          lambda mod, args, out, q=quantized: q(mod, args)))
            hooks.append((module.register_forward_hook, compare))
        with _hooks(hooks):
            actual = as_tuple(model(x))
        for i, (r, a) in enumerate(zip(reference, actual)):
            out_acc[f'output_{i}'][0] += float(r.pow(2).sum())
            out_acc[f'output_{i}'][1] += float((r - a).pow(2).sum())
    results = [
        LayerSQNR(name, layer_family(name, module), _db(acc[name][0], acc[name][1]),
                  _db(acc[name][0], acc[name][2]), _db(acc[name][3], acc[name][4]),
                  weight_range(_weight(module))) for name, module in layers
    ]
    return results, {k: _db(*v) for k, v in out_acc.items()}


def family_summary(results: Sequence[LayerSQNR]) -> List[Dict]:
    """Per layer family: count, median and worst isolated SQNR (per channel and per tensor),
    median weight range; worst families first."""
    groups: Dict[str, List[LayerSQNR]] = defaultdict(list)
    for r in results:
        groups[r.family].append(r)

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    rows = [dict(family=f, layers=len(g), median=median([r.isolated for r in g]),
                 worst=min(r.isolated for r in g),
                 median_tensor=median([r.isolated_tensor for r in g]),
                 worst_tensor=min(r.isolated_tensor for r in g),
                 weight_range=median([r.weight_range for r in g])) for f, g in groups.items()]
    return sorted(rows, key=lambda row: row['worst'])


def format_study(results: Sequence[LayerSQNR], outputs: Dict[str, float],
                 worst: Optional[int] = 5) -> str:
    """Markdown: the family summary, then the ``worst`` layers, then the output SQNR."""
    lines = ['| layer family | layers | isolated SQNR per-channel median / worst (dB) | '
             'per-tensor median / worst (dB) | weight range (median) |',
             '|---|---:|---:|---:|---:|']
    for row in family_summary(results):
        lines.append(f'| {row["family"]} | {row["layers"]} | {row["median"]:.1f} / '
                     f'{row["worst"]:.1f} | {row["median_tensor"]:.1f} / '
                     f'{row["worst_tensor"]:.1f} | {row["weight_range"]:.1f} |')
    if worst:
        lines += ['', '| worst layers | family | isolated (dB) | per-tensor (dB) | cumulative '
                  '(dB) | weight range |', '|---|---|---:|---:|---:|---:|']
        for r in sorted(results, key=lambda r: r.isolated)[:worst]:
            lines.append(f'| {r.name} | {r.family} | {r.isolated:.1f} | '
                         f'{r.isolated_tensor:.1f} | {r.cumulative:.1f} | '
                         f'{r.weight_range:.1f} |')
    lines += ['', 'network outputs, every layer quantized: ' + ', '.join(
        f'{k} {v:.1f} dB' for k, v in outputs.items())]
    return '\n'.join(lines)


def resolve_keep_float(model: nn.Module, calibration: Sequence[Tensor],
                       keep_float: Sequence[str],
                       threshold_db: float = AUTO_KEEP_FLOAT_DB) -> List[str]:
    """``keep_float`` with ``'auto'`` replaced by the layers that INT8 cannot represent: those
    whose isolated per-channel SQNR on (up to 8 of) the calibration inputs is below
    ``threshold_db`` (in MobileOne: 1x1 kernels with a folded identity branch that dwarfs the
    rest of every row, so even one scale per channel rounds the other weights to 0)."""
    names = [k for k in keep_float if k != 'auto']
    if 'auto' in keep_float:
        layers, _ = sqnr_study(model, calibration, list(calibration)[:8], names)
        names += [r.name for r in layers if r.isolated < threshold_db]
    return names


@torch.no_grad()
def diagonal_split_gains(model: nn.Module, calibration: Sequence[Tensor],
                         evaluation: Sequence[Tensor]) -> Dict[str, Tuple[float, float]]:
    """Isolated per-channel INT8 SQNR (dB) of every square 1x1 fused kernel of ``model``, as it
    is and with its diagonal split off: ``{name: (plain, split)}`` (same input quantization)."""
    layers = [(name, model.get_submodule(name)) for name in square_fused_kernels(model)]
    ranges = observe_ranges(model, layers, calibration)
    acc = defaultdict(lambda: [0.0, 0.0, 0.0])  # signal, plain noise, split noise
    hooks = []
    for name, module in layers:
        split = DiagonalSplitConv(module)
        weights = (_quantized_weight(module), _quantized_weight(split))

        def hook(mod, args, out, name=name, split=split, weights=weights):
            xq = fake_quant_activation(args[0], *ranges[name])
            a = acc[name]
            a[0] += float(out.pow(2).sum())
            a[1] += float((out - _forward(mod, xq, weights[0])).pow(2).sum())
            a[2] += float((out - _forward(split, xq, weights[1])).pow(2).sum())
        hooks.append((module.register_forward_hook, hook))
    with _hooks(hooks):
        for x in evaluation:
            model(x)
    return {name: (_db(a[0], a[1]), _db(a[0], a[2])) for name, a in acc.items()}


def resolve_diagonal_split(model: nn.Module, calibration: Sequence[Tensor],
                           min_gain_db: float = AUTO_SPLIT_GAIN_DB) -> List[str]:
    """The square 1x1 fused kernels worth splitting: those whose isolated SQNR on (up to 8 of)
    the calibration inputs the split raises by ``min_gain_db`` or more (in MobileOne: the
    kernels whose folded identity dwarfs the rest of their rows)."""
    gains = diagonal_split_gains(model, calibration, list(calibration)[:8])
    return [name for name, (plain, split) in gains.items() if split - plain >= min_gain_db]
