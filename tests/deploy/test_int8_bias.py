"""Empirical bias correction (issue 21): after it, the simulated INT8 network's mean output per
channel is the float network's at every layer; the weights (so the INT8 integers) are unchanged."""
import pytest
import torch
from torch import nn

from mmmobileone.deploy.int8.bias import bias_corrected, correct_bias
from mmmobileone.deploy.int8.diagonal import DiagonalSplitConv
from mmmobileone.deploy.int8.sqnr import (_forward, _hooks, _layers, _quantized_weight,
                                          fake_quant_activation, observe_ranges)


def _net() -> nn.Module:
    torch.manual_seed(0)
    square = nn.Conv2d(8, 8, 1)
    with torch.no_grad():
        square.weight.mul_(0.3).add_(torch.eye(8).view(8, 8, 1, 1) * 5.0)  # a folded identity
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.ReLU(),
                         DiagonalSplitConv(square), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 4)).eval()


@torch.no_grad()
def _layer_means(model, calibration, reference=None):
    """Per-layer output channel means over the batch: float, or simulated INT8 with the input
    ranges of ``reference`` (default: the model itself)."""
    layers = _layers(model, ())
    ranges = observe_ranges(reference or model, _layers(reference or model, ()), calibration)
    means, hooks = {}, []
    for name, module in layers:
        def hook(mod, args, out, name=name):
            y = _forward(mod, fake_quant_activation(args[0], *ranges[name]),
                         _quantized_weight(mod))
            means[name] = y.transpose(0, 1).reshape(y.shape[1], -1).mean(1)
            return y
        hooks.append((module.register_forward_hook, hook))
    with _hooks(hooks):
        model(torch.cat(calibration))
    return means


@torch.no_grad()
def _float_means(model, calibration):
    means, hooks = {}, []
    for name, module in _layers(model, ()):
        hooks.append((module.register_forward_hook, lambda mod, args, out, name=name: means.
                      __setitem__(name, out.transpose(0, 1).reshape(out.shape[1], -1).mean(1))))
    with _hooks(hooks):
        model(torch.cat(calibration))
    return means


def test_bias_correction_removes_the_mean_int8_error_of_every_layer():
    net = _net()
    generator = torch.Generator().manual_seed(1)
    calibration = [torch.rand(4, 3, 12, 12, generator=generator) * 3 for _ in range(4)]
    corrected = bias_corrected(net, calibration)
    expected = _float_means(net, calibration)
    before = _layer_means(net, calibration)
    exact = _layer_means(corrected, calibration, reference=net)
    own = _layer_means(corrected, calibration, reference=corrected)

    def gap(found):
        return {n: float((found[n] - expected[n]).abs().max()) for n in expected}
    before, exact, own = gap(before), gap(exact), gap(own)
    assert set(before) == {'0', '2', '4', '8'}
    assert max(before.values()) > 1e-3  # the offsets were there
    # gone, with the activation ranges the correction simulated (up to float rounding) ...
    assert all(exact[n] < 1e-3 * before[n] + 1e-5 for n in before), (before, exact)
    # ... and mostly gone with the ranges the runtimes observe on the corrected network (the
    # corrected biases move them a little)
    assert all(own[n] < 0.25 * before[n] for n in before), (before, own)
    # the weights, which the runtimes quantize, are untouched; the biases moved
    weights = dict(corrected.named_parameters())
    for name, weight in net.named_parameters():
        if name.endswith('weight'):
            assert torch.equal(weight, weights[name]), name
    assert corrected[2].bias is not None and net[2].bias is None  # created for the correction
    assert not torch.equal(net[8].bias, corrected[8].bias)


def test_bias_correction_needs_calibration():
    with pytest.raises(ValueError, match='calibration'):
        correct_bias(_net(), [])


def test_export_tool_switches_bias_correction_off():
    from tools.deployment.export import parse_args
    base = ['CONFIG', 'CHECKPOINT', '--backend', 'onnx', '--out-dir', 'out', '--int8']
    assert parse_args(base).bias_correction is True
    assert parse_args(base + ['--no-bias-correction']).bias_correction is False


def test_layers_run_twice_per_forward_keep_their_bias():
    """One bias cannot carry two levels' offsets: a shared layer is left as it is."""

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.head = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            y = torch.relu(self.stem(x))
            return self.head(y) + self.head(nn.functional.avg_pool2d(y, 2)).mean()

    torch.manual_seed(0)
    net = Shared().eval()
    calibration = [torch.rand(2, 3, 8, 8) for _ in range(2)]
    offsets = correct_bias(net, calibration)
    assert set(offsets) == {'stem'}
