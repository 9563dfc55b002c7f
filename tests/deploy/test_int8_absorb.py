"""Constant-channel absorption before INT8 (issue 21): input channels of a 1x1 conv that are
constant on the calibration images go into the bias; the same function in float, and the
folded identity weight no longer amplifies the INT8 rounding of the constant."""
import math

import numpy as np
import pytest
import torch
from deploy_marks import needs_backend
from torch import nn

from mmmobileone.deploy.int8.absorb import absorb_constant_inputs, replace_dead_filters
from mmmobileone.deploy.int8.diagonal import DiagonalSplitConv
from mmmobileone.deploy.int8.quantize import export_int8, int8_ready
from mmmobileone.deploy.int8.runtime import runtime_runner
from mmmobileone.deploy.int8.sqnr import sqnr_study
from mmmobileone.models import MobileOneUnit

CHANNELS, CONSTANT = 16, (0.93, 0.38)


class _Net(nn.Sequential):
    """Tensor in, tensor out, with the output names the exports ask the wrapper for."""

    def output_names(self, count: int) -> list:
        return [f'output_{i}' for i in range(count)]


def _constant_channel_net() -> nn.Module:
    """ReLU -> fused 1x1 MobileOne unit whose identity BatchNorm saw two constant input channels
    (running var 0, mean = the constant): fusion gives them diagonal weights of about 300 and a
    bias of the opposite sign, as in the broken quickstart detectors' ``stage1.1`` (constants
    0.93 and 0.38, diagonal 246 and 471, the rest of the rows below 0.4)."""
    torch.manual_seed(0)
    unit = MobileOneUnit(CHANNELS, CHANNELS, 1, num_convs=1).eval()
    with torch.no_grad():
        unit.branch_norm.running_var.fill_(1.0)
        unit.branch_norm.running_mean.zero_()
        for c, value in enumerate(CONSTANT):
            unit.branch_norm.running_var[c] = 0.0
            unit.branch_norm.running_mean[c] = value
    unit.switch_to_deploy()
    return _Net(nn.ReLU(), unit).eval()


def _inputs(count: int, seed: int) -> list:
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for _ in range(count):
        x = torch.randn(1, CHANNELS, 8, 8, generator=generator).abs() * 4
        for c, value in enumerate(CONSTANT):
            x[:, c] = value
        inputs.append(x)
    return inputs


def _db(expected: torch.Tensor, actual: torch.Tensor) -> float:
    return 10 * math.log10(float(expected.pow(2).sum() / (expected - actual).pow(2).sum()))


def test_absorption_is_the_same_function_and_leaves_other_channels_alone():
    net = _constant_channel_net()
    conv = net[1].branch_reparam
    assert float(conv.weight.detach()[:2, :2].diagonal().abs().min()) > 100  # the folded identity
    calibration = _inputs(4, seed=0)
    absorbed, names = absorb_constant_inputs(net, calibration)
    assert names == {'1.branch_reparam': [0, 1]}
    assert net[1].branch_reparam is conv and float(conv.weight.detach()[0, 0].abs()) > 100  # a copy
    new = absorbed[1].branch_reparam
    assert float(new.weight[:, :2].abs().max()) == 0
    torch.testing.assert_close(new.weight[:, 2:], conv.weight[:, 2:], rtol=0, atol=0)
    with torch.no_grad():
        for x in _inputs(2, seed=1):
            expected, actual = net(x), absorbed(x)
            assert float((actual - expected).abs().max() / expected.abs().max()) < 1e-5
    # nothing constant (or only dead, always-zero channels): nothing to do, the model itself
    varying = [x.clone() for x in calibration]
    for x in varying:
        x[:, :2] = torch.rand(1, 2, 8, 8) * 4
        x[:, 5] = 0.0
    same, names = absorb_constant_inputs(net, varying)
    assert same is net and names == {}
    with pytest.raises(ValueError, match='calibration'):
        absorb_constant_inputs(net, [])


def test_default_int8_absorbs_and_keeps_the_output_where_the_split_alone_does_not(tmp_path):
    """Simulated and through ONNX Runtime: the default (absorption + diagonal split + bias
    correction) keeps the unit's output; the split alone (the default before issue 21) leaves
    the constant's rounding error times ~300."""
    net = _constant_channel_net()
    calibration, evaluation = _inputs(8, seed=0), _inputs(4, seed=1)
    default = int8_ready(net, 'auto', calibration)
    assert int8_ready(net, 'auto', calibration, absorb_constants=None) is not net
    old = int8_ready(net, 'all', calibration, absorb_constants=False)
    assert isinstance(old[1].branch_reparam, DiagonalSplitConv)
    _, simulated_default = sqnr_study(default, calibration, evaluation)
    _, simulated_old = sqnr_study(old, calibration, evaluation)
    assert simulated_default['output_0'] > max(35, simulated_old['output_0'] + 15), (
        simulated_default, simulated_old)
    with torch.no_grad():
        expected = torch.cat([net(x) for x in evaluation])
    found = {}
    for name, model, absorb in (('default', net, True), ('split only', old, False)):
        paths = export_int8('onnx', model, calibration[0], calibration,
                            str(tmp_path / name.replace(' ', '_')),
                            diagonal_split='auto' if absorb else 'none',
                            absorb_constants=absorb, bias_correction=absorb)
        run = runtime_runner('onnx', paths)
        actual = torch.from_numpy(np.concatenate([run(x.numpy())[0] for x in evaluation]))
        found[name] = _db(expected, actual)
    assert found['default'] > max(35, found['split only'] + 15), found


def _dead_channel_net() -> nn.Module:
    """Conv -> ReLU -> depthwise 3x3 -> ReLU -> 1x1 -> pool -> linear, where channel 1 of the
    first conv is dead (weight 0, bias -1: always 0 after the ReLU) and the depthwise filter that
    reads it is 1e6, as the QARepVGG-structured S0 of seed 0 trained (a BN after a sum that is
    always 0)."""
    torch.manual_seed(0)
    net = _Net(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4),
               nn.ReLU(), nn.Conv2d(4, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(4, 3)).eval()
    with torch.no_grad():
        net[0].weight[1] = 0.0
        net[0].bias[1] = -1.0
        net[2].weight[1] = 1e6
        net[2].bias[1] = 0.5  # its output channel is constant 0.5, not dead
    return net


def test_outlier_filters_on_dead_channels_are_replaced_and_nothing_else():
    net = _dead_channel_net()
    generator = torch.Generator().manual_seed(0)
    calibration = [torch.randn(1, 3, 8, 8, generator=generator) for _ in range(4)]
    replaced, names = replace_dead_filters(net, calibration)
    assert names == {'2': [1]}
    assert float(net[2].weight[1].abs().max()) == 1e6  # a copy: the model itself is unchanged
    # one weight stays, the centre tap, at the median peak of the layer's other filters, so
    # that the channel's INT8 weight scale is typical (an all-zero filter gets scale 1 from
    # ONNX Runtime, and its bias is then rounded to steps of the input scale)
    peaks = net[2].weight.detach()[[0, 2, 3]].reshape(3, -1).abs().amax(1)
    assert replaced[2].weight[1, 0].nonzero().tolist() == [[1, 1]]
    assert float(replaced[2].weight[1, 0, 1, 1]) == float(peaks.median())
    torch.testing.assert_close(replaced[2].weight[[0, 2, 3]], net[2].weight[[0, 2, 3]], rtol=0,
                               atol=0)
    with torch.no_grad():
        for x in calibration + [torch.randn(2, 3, 8, 8, generator=generator)]:
            assert torch.equal(replaced(x), net(x))  # exactly: the channel is 0, padding too
    # an ordinary filter on a dead channel, and dense layers, are left alone
    with torch.no_grad():
        net[2].weight[1] = 0.3
        net[4].weight[:, 1] = 1e3  # a dense layer (its input channel 1 is 0.5, not dead)
    assert replace_dead_filters(net, calibration) == (net, {})
    dense = _Net(nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        dense[2].weight[:, 0] = 1e3
    assert replace_dead_filters(dense, [torch.tensor([[-1.0, 2.0, -3.0, 4.0]])]) == (dense, {})
    with pytest.raises(ValueError, match='calibration'):
        replace_dead_filters(net, [])


@needs_backend('executorch', run=True)
def test_a_huge_filter_on_a_dead_channel_no_longer_breaks_executorch(tmp_path):
    """XNNPACK refuses an INT8 conv whose input scale times weight scale over output scale
    reaches 256 (``xnn_status_unsupported_parameter``, the program does not load); the default
    export replaces the filter first and runs, as close to float as the rest of the network
    lets INT8 be."""
    net = _dead_channel_net()
    generator = torch.Generator().manual_seed(0)
    calibration = [torch.randn(1, 3, 8, 8, generator=generator) for _ in range(8)]
    with torch.no_grad():
        expected = torch.cat([net(x) for x in calibration])
    raw = export_int8('executorch', net, calibration[0], calibration, str(tmp_path / 'raw'),
                      diagonal_split='none', absorb_constants=False, bias_correction=False)
    with pytest.raises(RuntimeError):
        runtime_runner('executorch', raw)(calibration[0].numpy())
    paths = export_int8('executorch', net, calibration[0], calibration, str(tmp_path / 'default'))
    run = runtime_runner('executorch', paths)
    actual = torch.from_numpy(np.concatenate([run(x.numpy())[0] for x in calibration]))
    assert _db(expected, actual) > 25
