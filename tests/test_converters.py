"""Converters of Apple / timm MobileOne checkpoints: outputs equal the source model's.

No published checkpoint can be downloaded here, so each test writes one in the published layout:
it takes our randomized classifier, renames its tensors into the Apple or timm names with a
mapping written independently below (plain string substitutions, not the converter's regular
expressions), converts it back and compares the converted model's outputs with the original's.
"""
import argparse
import os

import pytest
import torch
from conftest import ROOT, randomize_bn, relative_error
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from mmmobileone.converters import ConversionError, convert_state_dict
from mmmobileone.models import MobileOne, reparameterize_model
from tools.model_converters.published import convert as convert_cli

NUM_CLASSES = 7
HEAD_CHANNELS = dict(s0=1024, s4=2048)
INPUT = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))

# Our name fragment -> published name fragment, applied in order.
APPLE_NAMES = [('branch_norm.', 'rbr_skip.'), ('branch_conv_list.', 'rbr_conv.'),
               ('branch_scale.', 'rbr_scale.'), ('.norm.', '.bn.'),
               ('se.conv1.conv.', 'se.reduce.'), ('se.conv2.conv.', 'se.expand.'),
               ('branch_reparam.', 'reparam_conv.')]
TIMM_NAMES = [('branch_norm.', 'identity.'), ('branch_conv_list.', 'conv_kxk.'),
              ('branch_scale.', 'conv_scale.'), ('.norm.', '.bn.'),
              ('se.conv1.conv.', 'attn.fc1.'), ('se.conv2.conv.', 'attn.fc2.'),
              ('branch_reparam.', 'reparam_conv.')]


def to_apple(key: str) -> str:
    if key.startswith('head.fc.'):
        return 'linear.' + key[len('head.fc.'):]
    key = key[len('backbone.'):]
    for ours, theirs in APPLE_NAMES:
        key = key.replace(ours, theirs)
    return key


def to_timm(key: str) -> str:
    if key.startswith('head.fc.'):
        return key
    key = key[len('backbone.'):]
    stage, rest = key.split('.', 1)
    index = int(stage[len('stage'):])
    key = f'stem.{rest}' if index == 0 else f'stages.{index - 1}.{rest}'
    for ours, theirs in TIMM_NAMES:
        key = key.replace(ours, theirs)
    return key


def classifier(arch: str, deploy: bool = False) -> torch.nn.Module:
    """An mmpretrain ImageClassifier with our backbone and LinearClsHead, in eval mode."""
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='mmmobileone.MobileOne', arch=arch, deploy=deploy),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                      in_channels=HEAD_CHANNELS[arch]))).eval()


@pytest.fixture(scope='module')
def references():
    """Per arch: a randomized unfused classifier, its fused copy, and the expected logits."""
    made = {}

    def get(arch):
        if arch not in made:
            torch.manual_seed(0)
            model = randomize_bn(classifier(arch), seed=3)
            with torch.no_grad():
                logits = model(INPUT, mode='tensor')
            made[arch] = (model, reparameterize_model(model), logits)
        return made[arch]

    return get


def published(model: torch.nn.Module, rename) -> dict:
    return {rename(k): v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize('layout,arch,fused', [
    ('apple', 's0', False),  # 4 conv branches per unit, identity BN
    ('apple', 's4', True),  # fused units + SE (se.reduce / se.expand)
    ('timm', 's4', False),  # SE as attn.fc1 / attn.fc2, stem / stages.{i-1}
    ('timm', 's0', True),
])
def test_whole_classifier_outputs_equal(references, layout, arch, fused):
    model, fused_model, expected = references(arch)
    source = published(fused_model if fused else model, to_apple if layout == 'apple' else
                       to_timm)
    result = convert_state_dict(source, layout)  # arch recognised from the tensors
    assert (result.arch, result.fused, result.num_classes) == (arch, fused, NUM_CLASSES)
    assert not result.filled and not result.dropped
    target = classifier(arch, deploy=fused)
    target.load_state_dict(result.state_dict, strict=True)
    with torch.no_grad():
        actual = target(INPUT, mode='tensor')
    assert relative_error(actual, expected) < (1e-5 if fused else 1e-7)


def test_backbone_only_initialises_a_detection_backbone(references, tmp_path):
    """timm unfused S4 -> backbone.* only -> init_cfg Pretrained with prefix 'backbone.'."""
    model, _, _ = references('s4')
    source = published(model, to_timm)
    path = str(tmp_path / 'timm.pth')
    torch.save(source, path)
    out = str(tmp_path / 'converted' / 's4_backbone.pth')
    convert_cli([path, out, '--backbone-only'], source='timm')
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['backbone_only'] and saved['meta']['arch'] == 's4'
    assert all(key.startswith('backbone.') for key in saved['state_dict'])
    backbone = MobileOne('s4', out_indices=(2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=out, prefix='backbone.'))
    backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        expected = model.backbone.eval()
        model.backbone.out_indices = (2, 3)
        try:
            wanted = expected(INPUT)
        finally:
            model.backbone.out_indices = (3, )
        actual = backbone(INPUT)
    for a, e in zip(actual, wanted):
        assert torch.equal(a, e)


def test_apple_wrapper_prefix_and_missing_counters(references):
    """{'state_dict': ...} wrapping, 'module.' prefixes and stripped num_batches_tracked."""
    model, _, expected = references('s0')
    source = {'module.' + k: v for k, v in published(model, to_apple).items()
              if not k.endswith('num_batches_tracked')}
    result = convert_state_dict({'state_dict': source, 'epoch': 300}, 'apple', arch='s0')
    assert len(result.filled) == sum(1 for k in model.state_dict()
                                     if k.endswith('num_batches_tracked'))
    target = classifier('s0')
    target.load_state_dict(result.state_dict, strict=True)
    with torch.no_grad():
        assert relative_error(target(INPUT, mode='tensor'), expected) < 1e-7


@pytest.fixture
def apple_s0(references):
    model, _, _ = references('s0')
    return published(model, to_apple)


@pytest.mark.parametrize('corrupt,message', [
    (lambda sd: sd.update({'stage1.0.rbr_conv.0.extra.weight': torch.zeros(1)}),
     'keys no rule explains'),
    (lambda sd: sd.update({'stage1.0.rbr_conv.9.conv.weight': torch.zeros(48, 1, 3, 3)}),
     'unexpected'),
    (lambda sd: sd.pop('stage2.3.rbr_skip.running_var'), 'missing'),
    (lambda sd: sd.update({'stage3.4.rbr_conv.1.conv.weight': torch.zeros(256, 1, 5, 5)}),
     'wrong shape'),
    (lambda sd: sd.update({'linear.weight': torch.zeros(NUM_CLASSES, 512)}), 'wrong shape'),
    (lambda sd: sd.update({'stage1.0.reparam_conv.weight': torch.zeros(48, 1, 3, 3)}),
     'mixes'),
])
def test_conversion_fails_loudly_and_writes_nothing(apple_s0, tmp_path, corrupt, message):
    corrupt(apple_s0)
    with pytest.raises(ConversionError, match=message):
        convert_state_dict(apple_s0, 'apple', arch='s0')
    path = str(tmp_path / 'bad.pth.tar')
    torch.save(apple_s0, path)
    out = tmp_path / 'out' / 'converted.pth'
    with pytest.raises(ValueError, match=message):
        convert_cli([path, str(out)], source='apple')
    assert not out.exists() and os.listdir(tmp_path) == ['bad.pth.tar']


def test_wrong_arch_layout_and_missing_head_fail(apple_s0):
    with pytest.raises(ConversionError, match='MobileOne-s1'):
        convert_state_dict(apple_s0, 'apple', arch='s1')
    with pytest.raises(ConversionError, match='keys no rule explains'):
        convert_state_dict(apple_s0, 'timm')
    headless = {k: v for k, v in apple_s0.items() if not k.startswith('linear.')}
    with pytest.raises(ConversionError, match='--backbone-only'):
        convert_state_dict(headless, 'apple')
    truncated = {k: v for k, v in apple_s0.items() if not k.startswith('stage4.')}
    with pytest.raises(ConversionError, match='matches no MobileOne variant'):
        convert_state_dict(truncated, 'apple')


def test_loading_never_executes_code(tmp_path):
    """A pickle that needs a non-tensor global is refused by the weights-only load."""
    path = str(tmp_path / 'evil.pth.tar')
    torch.save({'linear.weight': torch.zeros(1), 'payload': argparse.Namespace(x=1)}, path)
    out = tmp_path / 'out.pth'
    with pytest.raises(ValueError, match='argparse.Namespace.*weights-only') as refused:
        convert_cli([path, str(out)], source='apple')
    assert 'weights_only=False' not in str(refused.value)  # no advice to drop the protection
    assert not out.exists()


def test_converted_checkpoint_loads_with_mmengine(references, tmp_path):
    """The written file is what an mmpretrain config's load_from / tools/test.py reads."""
    model, fused_model, expected = references('s0')
    path = str(tmp_path / 'mobileone_s0.pth.tar')
    torch.save(published(fused_model, to_apple), path)
    out = str(tmp_path / 'mobileone_s0_deploy.pth')
    convert_cli([path, out], source='apple')
    target = classifier('s0', deploy=True)
    load_checkpoint(target, out, map_location='cpu', strict=True, logger='silent')
    with torch.no_grad():
        assert relative_error(target(INPUT, mode='tensor'), expected) < 1e-5


@pytest.mark.slow
def test_converted_checkpoint_fits_the_shipped_imagenet_config(tmp_path):
    """A 1000-class Apple checkpoint -> configs/mobileone_s0_imagenet.py, strict load."""
    from mmmobileone.apis import init_model
    from mmmobileone.converters import target_shapes
    from mmmobileone.deploy import tensor_model
    generator = torch.Generator().manual_seed(5)
    ours = {key: (torch.tensor(0) if key.endswith('num_batches_tracked') else
                  torch.rand(shape, generator=generator) + 0.5 if 'running_var' in key else
                  torch.randn(shape, generator=generator) * 0.1)
            for key, shape in target_shapes('s0', fused=False, num_classes=1000).items()}
    path = str(tmp_path / 'mobileone_s0_unfused.pth.tar')
    torch.save({to_apple(k): v for k, v in ours.items()}, path)
    out = str(tmp_path / 'mobileone_s0.pth')
    convert_cli([path, out], source='apple')
    config = f'{ROOT}/configs/mobileone_s0_imagenet.py'
    unfused = tensor_model(init_model(config, out, fuse=False))  # strict load
    fused = tensor_model(init_model(config, out, fuse=True))
    with torch.no_grad():
        expected = unfused(INPUT)
        assert expected.shape == (2, 1000)
        assert relative_error(fused(INPUT), expected) < 1e-5
    assert torch.equal(unfused.model.head.fc.weight, ours['head.fc.weight'])
