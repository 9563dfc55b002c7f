"""mmpretrain's ImageNet weights load whole into every SSDLite and DeepLabV3 backbone.

At output stride 16 and 8 the first depthwise unit of a stride-1 stage keeps the ImageNet
layout's branches (no identity BN), so the state dict is mmpretrain's key for key; and a run
(tools/train.py or a plain Runner: the configs' ``PretrainedInitCheckHook``) stops with one line
when a ``Pretrained`` checkpoint would leave tensors unloaded.
"""
import glob
import logging
import os.path as osp
from typing import Dict, Tuple

import pytest
import torch
from conftest import ROOT, randomize_bn, relative_error
from helpers import TINY_ARCH, cls_config, make_cls_data, write_config
from mmengine.config import Config

from mmmobileone import MobileOne, MobileOneUnit, reparameterize_model
from mmmobileone.engine.pretrained import (IncompletePretrainedError, check_pretrained_inits,
                                           iter_pretrained_inits)
from mmmobileone.registry import MODELS
from tools.train import main as train_main
from tools.train import train as run_train

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'ssdlite_mobileone_s*_coco.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'deeplabv3_mobileone_*.py')))


def mmpretrain_mobileone(arch: str) -> torch.nn.Module:
    """mmpretrain's own MobileOne, built through its registry (its train() returns None)."""
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    # scoped type: another test may have left mmdet or mmseg as the default scope
    model = MMPRETRAIN_MODELS.build(dict(type='mmpretrain.MobileOne', arch=arch))
    assert type(model) is MMPretrainMobileOne
    return model


@pytest.fixture(scope='module')
def mmpretrain_shapes():
    cache: Dict[str, Dict[str, Tuple[int, ...]]] = {}

    def shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
        if arch not in cache:
            cache[arch] = state_shapes(mmpretrain_mobileone(arch))
        return cache[arch]

    return shapes


def state_shapes(model: torch.nn.Module) -> Dict[str, Tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_every_detection_and_segmentation_config_is_covered():
    names = sorted(osp.basename(path) for path in CONFIGS)
    assert len(names) == 5 + 26
    assert sum(name.startswith('ssdlite_') for name in names) == 5
    assert sum('_os8_' in name for name in names) == 10


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_backbone_has_mmpretrains_keys_and_shapes(config, mmpretrain_shapes):
    cfg = Config.fromfile(config).model.backbone
    assert cfg.init_cfg.type == 'Pretrained' and cfg.init_cfg.prefix == 'backbone.'
    backbone = MODELS.build(cfg)  # no init_weights: nothing is downloaded
    ours = state_shapes(backbone)
    theirs = mmpretrain_shapes(cfg.arch)
    if cfg.get('use_se', True):
        expected = theirs
    else:  # S4 segmentation without SE: the checkpoint's SE tensors are its only unused ones
        expected = {k: v for k, v in theirs.items() if '.se.' not in k}
        # S4's SE: the last 5 blocks of stage 3 and the stage-4 block, dw and pw units, each
        # with conv1 and conv2 weight and bias
        assert len(theirs) - len(expected) == (5 + 1) * 2 * 2 * 2
    missing = sorted(set(ours) - set(expected))  # would stay at their default init
    unexpected = sorted(set(expected) - set(ours))
    assert missing == [] and unexpected == []
    assert [k for k in ours if ours[k] != expected[k]] == []
    # the units whose stride the config changed exist, and have no identity branch
    stride_one = [i for i, s in enumerate(backbone.strides) if s == 1]
    assert bool(stride_one) is osp.basename(config).startswith('deeplabv3_')
    for i in stride_one:
        unit = getattr(backbone, f'stage{i + 1}')[0]
        assert unit.stride == 1 and unit.branch_norm is None


def test_mmpretrain_s0_weights_load_strictly_into_output_stride_16(tmp_path):
    """All tensors load; stages 1-3 compute ImageNet's features exactly, and the stride-1 unit
    of stage 4 computes ImageNet's stride-2 unit densely."""
    reference = randomize_bn(mmpretrain_mobileone('s0'), seed=3)
    reference.eval()
    state = reference.state_dict()
    os16 = MobileOne('s0', out_indices=(0, 1, 2), strides=(2, 2, 2, 1), dilations=(1, 1, 1, 2))
    os16.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    loaded = os16.state_dict()
    assert sorted(loaded) == sorted(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    os16.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference.out_indices = [0, 1, 2]
        expected = reference(x)
        actual = os16(x)
        for a, e in zip(actual, expected):
            assert torch.equal(a, e)
        # stage 4's first unit at stride 1 (no dilation): the stride-2 unit's output on every
        # second row and column
        dense = MobileOne('s0', strides=(2, 2, 2, 1))
        dense.load_state_dict(state, strict=True)
        dense.eval()
        features = expected[2]
        strided = reference.stage4[0](features)
        sampled = dense.stage4[0](features)[..., ::2, ::2]
    assert sampled.shape == strided.shape
    assert relative_error(sampled, strided) < 1e-6

    # the same file through the config's init: a Pretrained init that loads every tensor
    checkpoint = str(tmp_path / 'mobileone_s0_in1k.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in state.items()}), checkpoint)
    model = torch.nn.Module()
    model.backbone = MobileOne('s0', strides=(2, 2, 2, 1), dilations=(1, 1, 1, 2),
                               init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                             prefix='backbone.'))
    assert check_pretrained_inits(model) == 1
    model.backbone.init_weights()
    assert all(torch.equal(v, state[k]) for k, v in model.backbone.state_dict().items())


def test_unit_without_identity_at_stride_1_fuses_exactly():
    unit = MobileOneUnit(8, 8, 3, num_convs=2, dilation=2, groups=8, identity=False)
    assert unit.branch_norm is None and MobileOneUnit(8, 8, 3, groups=8).branch_norm is not None
    unit = randomize_bn(unit, seed=4, calibrate_shape=None).eval()
    x = torch.randn(2, 8, 11, 11, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = unit(x)
        actual = reparameterize_model(unit)(x)
    assert relative_error(actual, expected) < 1e-6
    with pytest.raises(ValueError, match=r'identity=True needs .* got 8, 8 and stride 2'):
        MobileOneUnit(8, 8, 3, stride=2, groups=8, identity=True)
    with pytest.raises(ValueError, match="identity must be None, True or False, got 'yes'"):
        MobileOneUnit(8, 8, 3, groups=8, identity='yes')


# --------------------------------------------------------------------------------------------
# PretrainedInitCheckHook (declared by the configs): a Pretrained init that would leave tensors
# unloaded stops the run, through tools/train.py or a plain Runner


def _tiny_pretrained_run(tmp_path, drop=()) -> Tuple[str, str, Dict[str, torch.Tensor]]:
    """A tiny classifier config whose backbone starts from a local checkpoint (minus ``drop``);
    lr 0, so the trained weights must be the checkpoint's."""
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=1)
    source = randomize_bn(MobileOne(TINY_ARCH), seed=5)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    for key in drop:
        del state[key]
    checkpoint = str(tmp_path / 'tiny_backbone.pth')
    torch.save(dict(state_dict=state, meta=dict()), checkpoint)
    cfg = cls_config(data_root, str(tmp_path / 'work'), max_epochs=1, ema=False)
    cfg['model']['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint,
                                                prefix='backbone.')
    cfg['optim_wrapper']['optimizer'] = dict(type='SGD', lr=0.0)
    cfg['train_cfg']['val_interval'] = 2  # no validation
    return write_config(cfg, str(tmp_path / 'tiny.py')), checkpoint, source.state_dict()


@pytest.mark.slow
def test_train_stops_with_one_line_naming_the_unloaded_tensors(tmp_path, caplog):
    dropped = ('backbone.stage2.0.branch_scale.conv.weight',
               'backbone.stage4.1.branch_conv_list.1.norm.running_var')
    config, checkpoint, _ = _tiny_pretrained_run(tmp_path, drop=dropped)
    work_dir = str(tmp_path / 'work')
    with caplog.at_level(logging.ERROR, logger='mmmobileone'):
        assert train_main([config, '--work-dir', work_dir]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and '\n' not in errors[0]
    message = errors[0]
    assert 'model.backbone.init_cfg' in message and checkpoint in message
    assert ('2 not in the checkpoint: stage2.0.branch_scale.conv.weight, '
            'stage4.1.branch_conv_list.1.norm.running_var') in message
    assert '--cfg-options model.backbone.init_cfg=None' in message
    assert not glob.glob(osp.join(work_dir, '*.pth'))  # stopped before the first iteration
    with pytest.raises(IncompletePretrainedError):
        run_train([config, '--work-dir', work_dir])


@pytest.mark.slow
def test_a_plain_runner_stops_too(tmp_path):
    """The check is the config's PretrainedInitCheckHook, not the tool's: a plain
    ``Runner.from_cfg(Config.fromfile(c)).train()`` stops the same way, before any iteration."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    config, _, _ = _tiny_pretrained_run(
        tmp_path, drop=('backbone.stage2.0.branch_scale.conv.weight', ))
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / 'plain')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(IncompletePretrainedError, match='stage2.0.branch_scale.conv.weight'):
        runner.train()
    assert runner.iter == 0 and not glob.glob(osp.join(cfg.work_dir, '*.pth'))


@pytest.mark.slow
def test_train_with_a_complete_checkpoint_starts_from_it(tmp_path):
    config, _, source = _tiny_pretrained_run(tmp_path)
    runner = run_train([config, '--work-dir', str(tmp_path / 'work')])
    assert runner.epoch == 1
    trained = dict(runner.model.backbone.named_parameters())
    assert trained and all(torch.equal(p.detach(), source[k]) for k, p in trained.items())


def test_check_names_shape_mismatches_and_skips_load_from(tmp_path):
    source = MobileOne(TINY_ARCH).state_dict()
    source['stage1.0.branch_scale.conv.weight'] = torch.zeros(2, 1, 1, 1)
    checkpoint = str(tmp_path / 'other.pth')
    torch.save({f'backbone.{k}': v for k, v in source.items()}, checkpoint)
    model = torch.nn.Module()
    model.backbone = MobileOne(TINY_ARCH, init_cfg=dict(type='Pretrained', prefix='backbone.',
                                                        checkpoint=checkpoint))
    assert [name for name, _, _ in iter_pretrained_inits(model)] == ['backbone']
    expected = tuple(model.backbone.stage1[0].branch_scale.conv.weight.shape)
    assert expected != (2, 1, 1, 1)
    with pytest.raises(IncompletePretrainedError) as error:
        check_pretrained_inits(model)
    assert ('1 of another shape there: stage1.0.branch_scale.conv.weight (checkpoint '
            f'(2, 1, 1, 1), model {expected})') in str(error.value)
    assert 'not in the checkpoint' not in str(error.value)
    assert check_pretrained_inits(model, load_from='work/epoch_3.pth') == 0
