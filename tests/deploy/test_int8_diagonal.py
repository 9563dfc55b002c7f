"""The diagonal split of fused 1x1 kernels for INT8 (issue 13): the same function in float, the
folded identity branch no longer sets the INT8 scale of every row."""
import copy
import math
import os

import pytest
import torch
from conftest import ROOT, randomize_bn
from torch import nn

from mmmobileone.apis import init_model
from mmmobileone.deploy.int8.diagonal import DiagonalSplitConv, split_diagonal
from mmmobileone.deploy.int8.quantize import int8_ready
from mmmobileone.deploy.int8.sqnr import (AUTO_SPLIT_GAIN_DB, diagonal_split_gains,
                                          fake_quant_weight, resolve_diagonal_split, sqnr_study)
from mmmobileone.deploy.outputs import tensor_model
from mmmobileone.models import MobileOneUnit, reparameterize_model


def _identity_dominated_unit(channels: int = 16, identity_scale: float = 30.0) -> nn.Module:
    """A 1x1 MobileOne unit whose identity BatchNorm scale dwarfs its conv branch, fused."""
    torch.manual_seed(0)
    unit = MobileOneUnit(channels, channels, 1, num_convs=1).eval()
    with torch.no_grad():
        unit.branch_norm.weight.fill_(identity_scale)
        unit.branch_norm.running_var.fill_(1.0)
    unit.switch_to_deploy()
    return unit


def _db(reference: torch.Tensor, actual: torch.Tensor) -> float:
    return 10 * math.log10(float(reference.pow(2).sum() / (reference - actual).pow(2).sum()))


def test_split_is_the_same_function_and_quantizes_the_rows_far_better():
    unit = _identity_dominated_unit()
    conv = unit.branch_reparam
    split = DiagonalSplitConv(conv)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        expected, diagonal = conv(x), split.diagonal(x)
        torch.testing.assert_close(split(x), expected, rtol=1e-5, atol=1e-5)
        # one weight per channel: per-channel INT8 holds the diagonal exactly (up to the
        # rounding of its own scale), and the rest of each row keeps its own resolution
        torch.testing.assert_close(fake_quant_weight(split.diagonal.weight),
                                   split.diagonal.weight, rtol=1e-6, atol=0)
        plain = nn.functional.conv2d(x, fake_quant_weight(conv.weight), conv.bias)
        dense = nn.functional.conv2d(x, fake_quant_weight(split.conv.weight), split.conv.bias)
        # error on the part of the output that the trained (off-diagonal) weights make
        plain_db = _db(expected - diagonal, plain - diagonal)
        split_db = _db(expected - diagonal, dense)
    assert split_db > plain_db + 20, (plain_db, split_db)


def test_split_diagonal_rewrites_only_square_fused_1x1_kernels_of_a_copy():
    torch.manual_seed(0)
    net = init_model(os.path.join(ROOT, 'configs/mobileone_s0_imagenet.py'), None, fuse=False)
    randomize_bn(net, seed=1, calibrate_shape=(2, 3, 64, 64))
    fused = reparameterize_model(net.eval())
    square = [n for n, m in fused.named_modules()
              if n.endswith('branch_reparam') and m.kernel_size == (1, 1)
              and m.in_channels == m.out_channels]
    ready = int8_ready(fused, 'all')
    assert not any(isinstance(m, DiagonalSplitConv) for m in fused.modules())  # a copy
    split = [n for n, m in ready.named_modules() if isinstance(m, DiagonalSplitConv)]
    assert split == square and len(split) > 10
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, actual = fused(x, mode='tensor'), ready(x, mode='tensor')
    # float rounding only (the sums are taken in another order), as the exports' parity measures
    assert float((actual - expected).abs().max() / expected.abs().max()) < 1e-5
    # the SQNR study counts a split kernel as one layer (both parts quantized, one input), so
    # the plain and split studies list the same layers
    inputs = [torch.randn(1, 3, 64, 64) for _ in range(2)]
    plain, _ = sqnr_study(tensor_model(fused), inputs, inputs)
    split_layers, outputs = sqnr_study(tensor_model(ready), inputs, inputs)
    assert [r.name for r in split_layers] == [r.name for r in plain]
    assert math.isfinite(outputs['output_0'])


def test_split_refuses_a_kernel_it_cannot_split():
    with pytest.raises(ValueError, match='square 1x1'):
        DiagonalSplitConv(nn.Conv2d(8, 16, 1))
    head = nn.Sequential(nn.Conv2d(8, 8, 1))  # not a fused MobileOne kernel: left alone
    assert split_diagonal(copy.deepcopy(head)) == []


def _quiet_channel_unit(channels: int = 16, quiet: int = 4) -> nn.Module:
    """A fused 1x1 unit whose identity BatchNorm saw ``quiet`` dead (always zero) input
    channels: its scale gamma / sqrt(var + eps) is about 100 there, so those rows are dominated
    by a diagonal weight that multiplies zero, while their output comes from the other weights
    (what the quickstart detector's stage1.1 kernel looks like: diagonal 150-320, the rest of
    the row below 0.34, on input channels that are exactly 0)."""
    torch.manual_seed(0)
    unit = MobileOneUnit(channels, channels, 1, num_convs=1).eval()
    with torch.no_grad():
        unit.branch_norm.running_var.fill_(1.0)
        unit.branch_norm.running_var[:quiet] = 0.0
    unit.switch_to_deploy()
    return unit


def test_auto_split_chooses_the_identity_dominated_kernels_only():
    model = nn.Sequential(_quiet_channel_unit(), nn.ReLU(), _quiet_channel_unit(quiet=0)).eval()
    generator = torch.Generator().manual_seed(0)
    scale = torch.ones(1, 16, 1, 1)
    scale[:, :4] = 0.0  # dead channels
    calibration = [torch.randn(1, 16, 8, 8, generator=generator) * scale for _ in range(4)]
    gains = diagonal_split_gains(model, calibration, calibration)
    assert list(gains) == ['0.branch_reparam', '2.branch_reparam']
    (plain0, split0), (plain2, split2) = gains.values()
    assert split0 - plain0 > 10 and abs(split2 - plain2) < AUTO_SPLIT_GAIN_DB, gains
    assert resolve_diagonal_split(model, calibration) == ['0.branch_reparam']
    ready = int8_ready(model, 'auto', calibration)
    assert [type(m).__name__ for m in ready] == ['MobileOneUnit', 'ReLU', 'MobileOneUnit']
    assert isinstance(ready[0].branch_reparam, DiagonalSplitConv)
    assert type(ready[2].branch_reparam) is nn.Conv2d
    with pytest.raises(ValueError, match='needs calibration'):
        int8_ready(model, 'auto')
    with pytest.raises(ValueError, match="one of auto, all, none, got 'some'"):
        int8_ready(model, 'some', calibration)
    with pytest.raises(ValueError, match='not square 1x1 fused kernels'):
        split_diagonal(copy.deepcopy(model), ['1'])
