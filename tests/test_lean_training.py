"""Lean training of the branched form: the same function as the plain looped form.

``with_cp`` (activation checkpointing) must reproduce the plain forward bit for bit: outputs,
gradients and BatchNorm running statistics. ``moment_stats`` (1x1 and identity branches from the
input's moments, on by default) computes the same function with other roundings, so it is
judged against the float64 truth the way the fusion tests judge the fused network: its float32
error must stay within a small factor of the looped float32 form's own error (measured on the
same input, S0 and S2, train mode).
"""
import copy
from typing import Dict, List

import pytest
import torch
from conftest import randomize_bn, relative_error
from torch import nn

from mmmobileone import MobileOne, MobileOneUnit
from mmmobileone.models.layers import moment_branches

SHAPE = (2, 3, 64, 64)
#: How many times the looped form's float32-vs-float64 gap the moment form's may be. Measured
#: here (S0, S2, seeds 0-1): outputs 0.97-1.35x, running statistics 0.98-1.3x; gradients, whose
#: float32 error on these 64x64 / batch-2 nets is itself 0.4-3% (train-mode BatchNorm over
#: 2x2 maps amplifies rounding), 0.09-3.3x in either direction.
GAP_FACTOR = dict(outputs=2.0, buffers=2.0, grads=4.0)


def _train_step(model: nn.Module, x: torch.Tensor) -> Dict[str, List[torch.Tensor]]:
    """Outputs, parameter gradients and buffers after one training-mode forward/backward."""
    model.train()
    outputs = model(x)
    weights = [torch.linspace(-1, 1, o.numel(), dtype=o.dtype).reshape(o.shape) for o in outputs]
    sum((o * w).sum() for o, w in zip(outputs, weights)).backward()
    return dict(outputs=[o.detach() for o in outputs],
                grads=[p.grad for p in model.parameters()],
                buffers=[b.clone() for b in model.buffers()])


def _pair(arch: str, **kwargs) -> tuple:
    reference = randomize_bn(MobileOne(arch, out_indices=(0, 1, 2, 3), moment_stats=False),
                             seed=3)
    kwargs.setdefault('moment_stats', True)
    variant = MobileOne(arch, out_indices=(0, 1, 2, 3), **kwargs)
    variant.load_state_dict(reference.state_dict())
    return reference, variant


def _flat(tensors: List[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.double().flatten() for t in tensors])


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['s0', 's2'])
@pytest.mark.parametrize('with_cp', [True, (True, False, True, False, True)])
def test_with_cp_equals_the_plain_form_bit_for_bit(arch, with_cp):
    for moment_stats in (False, True):
        reference = randomize_bn(
            MobileOne(arch, out_indices=(0, 1, 2, 3), moment_stats=moment_stats), seed=3)
        variant = MobileOne(arch, out_indices=(0, 1, 2, 3), with_cp=with_cp,
                            moment_stats=moment_stats)
        variant.load_state_dict(reference.state_dict())
        x = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))
        expected, actual = _train_step(reference, x), _train_step(variant, x)
        for kind in ('outputs', 'grads', 'buffers'):
            for e, a in zip(expected[kind], actual[kind]):
                assert torch.equal(e, a), (kind, moment_stats)


def test_with_cp_keeps_frozen_and_eval_norms_and_runs_without_grad():
    model = MobileOne('s0', with_cp=True, frozen_stages=1)
    model.train()
    frozen = copy.deepcopy(model.stage1.state_dict())
    out = model(torch.randn(2, 3, 64, 64))[0]
    out.sum().backward()
    for key, value in model.stage1.state_dict().items():
        assert torch.equal(value, frozen[key]), key
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64))[0].shape == out.shape


@pytest.mark.parametrize('with_cp', ['yes', (True, ) * 4, (1, 0, 0, 0, 0)])
def test_bad_with_cp_names_the_value(with_cp):
    with pytest.raises(ValueError, match='with_cp'):
        MobileOne('s0', with_cp=with_cp)


def _count_moment_units(model: nn.Module, x: torch.Tensor) -> int:
    model.train()
    units = [m for m in model.modules() if isinstance(m, MobileOneUnit)]
    used = []
    for unit in units:
        inputs = []
        handle = unit.register_forward_pre_hook(lambda _m, args, store=inputs: store.append(
            args[0]))
        used.append((unit, inputs, handle))
    with torch.no_grad():
        model(x)
    count = 0
    for unit, inputs, handle in used:
        handle.remove()
        count += unit._moment_branches(inputs[0]) is not None
    return count


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['s0', 's2'])
def test_moment_stats_matches_the_looped_form(arch):
    reference, variant = _pair(arch)
    assert all(u.moment_stats for u in variant.modules() if isinstance(u, MobileOneUnit))
    x = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))
    assert _count_moment_units(copy.deepcopy(variant), x) > 0
    truth = _train_step(copy.deepcopy(reference).double(), x.double())
    looped, moments = _train_step(reference, x), _train_step(variant, x)
    for kind in ('grads', 'buffers'):
        gap = relative_error(_flat(looped[kind]), _flat(truth[kind]))
        assert relative_error(_flat(moments[kind]), _flat(truth[kind])) <= (
            GAP_FACTOR[kind] * gap + 1e-7), kind
    for t, lo, mo in zip(truth['outputs'], looped['outputs'], moments['outputs']):
        assert relative_error(mo, t) <= GAP_FACTOR['outputs'] * relative_error(lo, t) + 1e-7


@pytest.mark.parametrize('momentum', [0.1, None])
@pytest.mark.parametrize('kind', ['pointwise', 'depthwise', 'strided_stem'])
def test_moment_unit_matches_looped_unit_in_float64(kind, momentum):
    """Per unit, in float64, the moment form is the looped form's function to 1e-12,
    including the cumulative-average running statistics (``momentum=None``)."""
    settings = dict(pointwise=dict(in_channels=16, out_channels=16, kernel_size=1, num_convs=3),
                    depthwise=dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=2,
                                   groups=16),
                    strided_stem=dict(in_channels=3, out_channels=16, kernel_size=3, stride=2))
    looped = MobileOneUnit(**settings[kind], moment_stats=False).double()
    for norm in looped.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.momentum = momentum
    looped = randomize_bn(looped, seed=5, calibrate_shape=None)
    moment = copy.deepcopy(looped)
    moment.moment_stats = True
    x = torch.randn(4, settings[kind]['in_channels'], 20, 20, dtype=torch.float64)
    assert moment.train()._moment_branches(x) is not None
    for _ in range(2):  # twice: the running statistics' update depends on the first
        expected, actual = _train_step(looped, x), _train_step(moment, x)
    for key in ('outputs', 'grads', 'buffers'):
        for e, a in zip(expected[key], actual[key]):
            assert relative_error(a, e) < 1e-12, key


def test_moment_rule_keeps_small_batches_and_single_branches_looped():
    pays = moment_branches.pointwise_moments_pay_off
    assert pays(4, 48, 48, 16 * 56 * 56)  # S0 stage 1 at 224, batch 16
    assert not pays(4, 256, 1024, 8)  # a 2x2 map of batch 2: covariance products dominate
    assert not pays(1, 256, 256, 10**6)  # k = 1: the covariance costs more than the conv


def test_eval_mode_syncbn_and_fusion_are_untouched_by_moment_stats():
    reference, variant = _pair('s0')
    x = torch.randn(*SHAPE)
    with torch.no_grad():
        for e, a in zip(reference.eval()(x), variant.eval()(x)):
            assert torch.equal(e, a)
    assert list(reference.state_dict()) == list(variant.state_dict())
    sync = MobileOneUnit(8, 8, 1, num_convs=2, norm_cfg=dict(type='SyncBN'),
                         moment_stats=True).train()
    assert sync._moment_branches(torch.randn(2, 8, 64, 64)) is None


def test_benchmark_train_tool_writes_table_json_and_plot(tmp_path):
    from tools.analysis.benchmark_train import benchmark
    result = benchmark(['--archs', 'mu0', '--batch', '2', '--size', '32', '--rounds', '2',
                        '--peers', '--no-memory', '--variants', 'looped', 'moments+cp',
                        '--out-dir', str(tmp_path)])
    assert [row['name'] for row in result['rows']] == ['ours:looped', 'ours:moments+cp']
    assert result['rows'][0]['vs_looped'] == 1.0 and result['rows'][0]['vs_best_peer'] is None
    table = (tmp_path / 'train_step.md').read_text()
    assert '| mu0 | 32 | 2 | ours:moments+cp |' in table and 'n/a' in table
    assert (tmp_path / 'train_step.json').exists() and (tmp_path / 'train_step.png').exists()
    assert 'load average' in result['environment']['load_before']
    with pytest.raises(ValueError, match='bad variant'):
        benchmark(['--variants', 'looped+moments', '--out-dir', str(tmp_path)])


def test_moment_statistics_stay_float32_under_autocast():
    """A Gram entry sums N*H*W products: in half precision it would overflow (fp16) or lose
    digits (bf16); the moment form computes it in float32 under autocast."""
    unit = MobileOneUnit(8, 8, 1, num_convs=2, moment_stats=True).train()
    x = 30 * torch.randn(4, 8, 128, 128)  # Gram entries ~ 6e7, beyond float16's range
    expected = copy.deepcopy(unit)(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert unit._moment_branches(x) is not None
        actual = unit(x)
    assert torch.isfinite(actual).all()
    assert relative_error(actual.float(), expected) < 1e-2


def test_a_single_value_per_channel_fails_as_batchnorm_does():
    unit = MobileOneUnit(8, 8, 1, num_convs=2, moment_stats=True).train()
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        unit(torch.randn(1, 8, 1, 1))
