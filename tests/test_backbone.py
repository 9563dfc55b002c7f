"""The MobileOne backbone: architecture, fusion exactness, dense-prediction options."""
import copy

import pytest
import torch
from conftest import max_relative_error, randomize_bn, relative_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmmobileone import MobileOne, MobileOneUnit, reparameterize_model
from mmmobileone.models import ARCH_SETTINGS

VARIANTS = ['s0', 's1', 's2', 's3', 's4', 'mu0', 'mu1', 'mu2']
TOLERANCE = 1e-5


def fused_vs_unfused(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Largest relative error between the outputs of ``model`` and its fused copy."""
    model.eval()
    fused = reparameterize_model(model).eval()
    with torch.no_grad():
        expected, actual = model(x), fused(x)
    return max(relative_error(a, e) for a, e in zip(actual, expected))


@pytest.mark.parametrize('arch', VARIANTS)
def test_every_variant_fuses_exactly(arch):
    model = randomize_bn(MobileOne(arch, out_indices=('stem', 0, 1, 2, 3)), seed=1)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert fused_vs_unfused(model, x) < TOLERANCE


@pytest.mark.parametrize('arch', VARIANTS)
def test_every_unit_fuses_exactly_on_its_own_input(arch):
    """The algebra per unit, free of error propagation: random statistics, real inputs."""
    model = randomize_bn(MobileOne(arch), seed=9, calibrate_shape=None).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        units = [model.stage0] + [u for i in range(1, 5) for u in getattr(model, f'stage{i}')]
        for index, unit in enumerate(units):
            fused = reparameterize_model(unit)
            expected = unit(x)
            assert max_relative_error(fused(x), expected) < TOLERANCE, index
            x = expected / expected.std().clamp_min(1e-6)


def assert_exact_and_float32_sound(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Fusion is exact in float64; in float32 the fused model is as accurate as the unfused one.

    Deep float32 networks carry their own rounding noise (S0's unfused float32 output lies up to
    1.4e-5 from its float64 value at output stride 8), so the float32 criterion is measured
    against the float64 truth rather than against the noisy unfused float32 output.
    """
    model.eval()
    with torch.no_grad():
        model64 = copy.deepcopy(model).double()
        truth = model64(x.double())
        fused64 = reparameterize_model(model64)(x.double())
        unfused32, fused32 = model(x), reparameterize_model(model)(x)
    for t, f64, u32, f32 in zip(truth, fused64, unfused32, fused32):
        assert relative_error(f64, t) < 1e-10
        assert relative_error(f32, t) <= 1.5 * relative_error(u32, t) + 1e-7


@pytest.mark.parametrize('strides,dilations,stride', [
    ((2, 2, 2, 2), (1, 1, 1, 1), 32),
    ((2, 2, 2, 1), (1, 1, 1, 2), 16),
    ((2, 2, 1, 1), (1, 1, 2, 4), 8),
    ((2, 1, 2, 1), (1, 3, 1, 2), 8),
    ((1, 1, 1, 1), (1, 2, 3, 5), 2),
])
@pytest.mark.slow
@pytest.mark.parametrize('arch', ['s0', 's4', 'mu1'])
def test_output_stride_and_dilation_stay_exact(arch, strides, dilations, stride):
    model = randomize_bn(MobileOne(arch, out_indices=(0, 1, 2, 3), strides=strides,
                                   dilations=dilations), seed=2)
    assert model.output_stride == stride
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    outs = model.eval()(x)
    assert outs[-1].shape[-1] == 64 // stride
    assert [o.shape[1] for o in outs] == list(model.out_channels)
    assert_exact_and_float32_sound(model, x)


def test_default_output_shapes_s0():
    model = MobileOne('s0', out_indices=('stem', 0, 1, 2, 3)).eval()
    outs = model(torch.rand(1, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(1, 48, 112, 112), (1, 48, 56, 56),
                                              (1, 128, 28, 28), (1, 256, 14, 14),
                                              (1, 1024, 7, 7)]


def test_unit_structure_follows_the_paper():
    unit = MobileOneUnit(16, 16, 3, num_convs=4, groups=16)
    assert len(unit.branch_conv_list) == 4
    assert unit.branch_scale.conv.kernel_size == (1, 1)
    assert unit.branch_norm is not None  # identity: same channels, stride 1
    strided = MobileOneUnit(16, 16, 3, num_convs=1, stride=2, groups=16)
    assert strided.branch_norm is None
    pointwise = MobileOneUnit(16, 32, 1, num_convs=2)
    assert pointwise.branch_scale is None and pointwise.branch_norm is None


def test_se_placement_and_option_to_drop_it():
    def se_units(model):
        return [name for name, m in model.named_modules()
                if isinstance(m, MobileOneUnit) and not isinstance(m.se, torch.nn.Identity)]

    names = se_units(MobileOne('s4'))
    # the last 5 blocks of stage 3 and the stage-4 block, dw and pw units of each
    expected = [f'stage3.{i}' for i in range(10, 20)] + ['stage4.0', 'stage4.1']
    assert names == expected
    assert se_units(MobileOne('s4', use_se=False)) == []


def test_se_squeeze_width_matches_mmpretrain_and_apple_for_s4():
    model = MobileOne('s4')
    se = model.stage3[10].se
    channels = model.stage3[10].out_channels
    assert se.conv1.conv.out_channels == int(channels * 0.0625)


def test_deploy_true_builds_the_fused_structure_and_loads_fused_weights():
    model = randomize_bn(MobileOne('mu0'), seed=4).eval()
    fused = reparameterize_model(model)
    direct = MobileOne('mu0', deploy=True)
    assert sorted(direct.state_dict()) == sorted(fused.state_dict())
    direct.load_state_dict(fused.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(direct.eval()(x)[0], fused(x)[0])
    assert not any('branch_conv_list' in k for k in direct.state_dict())


def test_switch_to_deploy_in_place_and_twice_is_a_no_op():
    model = randomize_bn(MobileOne('s0'), seed=5).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
    model.switch_to_deploy()
    state = copy.deepcopy(model.state_dict())
    model.switch_to_deploy()
    assert model.deploy
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert relative_error(model(x)[0], expected) < TOLERANCE


def test_reparameterize_model_leaves_its_input_untouched():
    model = randomize_bn(MobileOne('s0'), seed=6).train()
    before = copy.deepcopy(model.state_dict())
    fused = reparameterize_model(model)
    assert fused is not model and fused.deploy and not model.deploy
    assert fused.training  # keeps the input's mode
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert reparameterize_model(fused).state_dict().keys() == fused.state_dict().keys()


def test_fusion_works_for_syncbn():
    model = randomize_bn(MobileOne('mu0', norm_cfg=dict(type='SyncBN')), seed=7)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    # SyncBN in eval mode is plain BN: compare against the same weights in a BN model
    reference = MobileOne('mu0')
    reference.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    fused = reparameterize_model(model).eval()
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in fused.modules())
    with torch.no_grad():
        assert relative_error(fused(x)[0], reference.eval()(x)[0]) < TOLERANCE


@pytest.mark.parametrize('dtype', [torch.float64, torch.bfloat16])
def test_fusion_keeps_dtype_and_folds_in_wide_precision(dtype):
    model = randomize_bn(MobileOne('mu0'), seed=8).eval().to(dtype)
    narrow = reparameterize_model(model)
    wide = reparameterize_model(copy.deepcopy(model).double())
    assert all(p.dtype == dtype for p in narrow.parameters())
    for (name, a), b in zip(narrow.state_dict().items(), wide.state_dict().values()):
        # each fused parameter is the correctly rounded wide value
        assert torch.equal(a, b.to(dtype)), name


def test_fusing_a_batch_dependent_norm_fails_clearly_and_changes_nothing():
    norm_cfg = dict(type='BN', track_running_stats=False)
    unit = MobileOneUnit(8, 8, 3, groups=8, norm_cfg=norm_cfg)
    with pytest.raises(ValueError, match='track_running_stats=False'):
        unit.switch_to_deploy()
    assert not unit.deploy and hasattr(unit, 'branch_conv_list')


def test_fused_checkpoint_into_train_time_model_is_refused():
    fused = MobileOne('mu0', deploy=True).state_dict()
    with pytest.raises(RuntimeError, match='deploy=True'):
        MobileOne('mu0').load_state_dict(fused, strict=False)
    with pytest.raises(RuntimeError, match='deploy=False'):
        MobileOne('mu0', deploy=True).load_state_dict(MobileOne('mu0').state_dict(),
                                                      strict=False)


def test_train_returns_self_and_honours_frozen_stages_and_norm_eval():
    model = MobileOne('mu0', frozen_stages=1, norm_eval=True)
    assert model.train() is model
    assert not any(p.requires_grad for p in model.stage0.parameters())
    assert not any(p.requires_grad for p in model.stage1.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert not model.stage1.training and model.stage2.training
    assert all(not m.training for m in model.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    stem_before = model.stage0.branch_conv_list[0].norm.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(stem_before, model.stage0.branch_conv_list[0].norm.running_mean)


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='s9'), "unknown MobileOne arch 's9'.*'mu0'.*'s4'"),
    (dict(arch=dict(num_blocks=[1, 1, 1, 1])), 'missing keys'),
    (dict(arch=dict(ARCH_SETTINGS['s0'], extra=1)), "unknown keys \\['extra'\\]"),
    (dict(arch=dict(ARCH_SETTINGS['s0'], num_blocks=[2, 8, 10])), 'list of 4 values'),
    (dict(arch=dict(ARCH_SETTINGS['s0'], num_se_blocks=[3, 0, 0, 0])), 'exceeds'),
    (dict(arch=dict(ARCH_SETTINGS['s0'], width_factor=[1, -1, 1, 1])), 'positive numbers'),
    (dict(arch=dict(ARCH_SETTINGS['s0'], num_conv_branches=[0, 1, 1, 1])), '>= 1'),
    (dict(out_indices=(4, )), 'invalid out_indices entry 4'),
    (dict(out_indices=(0, 0)), 'repeats'),
    (dict(strides=(2, 2, 3, 2)), 'strides must be 4 integers'),
    (dict(dilations=(1, 1, 0, 1)), 'dilations must be 4 integers'),
    (dict(frozen_stages=5), 'frozen_stages must be an int in \\[-1, 4\\], got 5'),
    (dict(arch=42), 'got int 42'),
])
def test_bad_arguments_name_the_bad_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MobileOne(**kwargs)


def test_arch_dict_input_is_not_mutated():
    arch = copy.deepcopy(ARCH_SETTINGS['s1'])
    MobileOne(arch)
    assert arch == ARCH_SETTINGS['s1']


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(st.integers(1, 2), min_size=4, max_size=4),
       widths=st.lists(st.sampled_from([0.125, 0.25, 0.375, 0.5]), min_size=4, max_size=4),
       branches=st.lists(st.integers(1, 3), min_size=4, max_size=4),
       se=st.lists(st.integers(0, 1), min_size=4, max_size=4),
       stem_k=st.integers(1, 3),
       layout=st.sampled_from([((2, 2, 2, 2), (1, 1, 1, 1)), ((2, 2, 2, 1), (1, 1, 1, 2)),
                               ((2, 2, 1, 1), (1, 1, 2, 4)), ((2, 1, 2, 1), (1, 3, 1, 2))]),
       seed=st.integers(0, 2**16))
def test_random_custom_architectures_fuse_exactly(blocks, widths, branches, se, stem_k, layout,
                                                  seed):
    arch = dict(num_blocks=blocks, width_factor=widths, num_conv_branches=branches,
                num_se_blocks=se, stem_num_conv_branches=stem_k)
    model = randomize_bn(MobileOne(arch, out_indices=('stem', 0, 1, 2, 3), strides=layout[0],
                                   dilations=layout[1]), seed=seed)
    x = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(seed))
    assert fused_vs_unfused(model, x) < TOLERANCE


def test_quant_friendly_units_have_the_qarepvgg_structure():
    """No BN on the identity and 1x1 branches, one BN after the sum; the conv branches keep
    theirs (issue 21's opt-in train-time structure for INT8)."""
    unit = MobileOneUnit(16, 16, 3, num_convs=2, groups=16, quant_friendly=True)
    assert unit.branch_norm is None and unit.plain_identity
    assert list(dict(unit.branch_scale.named_children())) == ['conv']
    assert all(hasattr(b, 'norm') for b in unit.branch_conv_list)
    assert unit.post_norm.num_features == 16
    strided = MobileOneUnit(16, 32, 1, num_convs=2, stride=2, quant_friendly=True)
    assert not strided.plain_identity and strided.branch_scale is None
    # unit + BN params: 2 depthwise 3x3 kernels and their BNs, one 1x1 kernel, the post BN
    assert sum(p.numel() for p in unit.parameters()) == 2 * (16 * 9 + 32) + 16 + 32
    model = MobileOne('s0', quant_friendly=True)
    keys = model.state_dict().keys()
    assert not any('branch_norm' in k or 'branch_scale.norm' in k for k in keys)
    assert 'stage1.1.post_norm.weight' in keys


@pytest.mark.parametrize('arch', ['s0', 'mu0'])
def test_quant_friendly_variants_fuse_exactly(arch):
    model = randomize_bn(MobileOne(arch, out_indices=('stem', 0, 1, 2, 3), quant_friendly=True),
                         seed=3)
    assert_exact_and_float32_sound(model, torch.randn(2, 3, 64, 64, generator=torch.Generator(
    ).manual_seed(3)))
    fused = reparameterize_model(model)
    plain = reparameterize_model(randomize_bn(MobileOne(arch), seed=3))
    # the deployed network is the same plain conv stack as MobileOne's own
    assert {k: v.shape for k, v in fused.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()}


def test_quant_friendly_ignores_moment_stats_and_trains_the_same():
    torch.manual_seed(0)
    model = MobileOne('mu0', quant_friendly=True).train()
    moments = copy.deepcopy(model)
    for unit in moments.modules():
        if isinstance(unit, MobileOneUnit):
            unit.moment_stats = True
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x)[0], moments(x)[0])
