"""One MobileOne class, built through mmpretrain's, mmdet's and mmseg's own registries."""
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, randomize_bn, relative_error

import mmmobileone
from mmmobileone.models.backbones.arch import ARCH_SETTINGS, BASE_CHANNELS
from mmmobileone.registry import MODELS


@pytest.mark.slow
def test_importing_mmmobileone_does_not_import_mmdet_or_mmseg():
    code = ('import sys, mmmobileone; '
            "bad = [m for m in ('mmdet', 'mmseg', 'mmpretrain') if m in sys.modules]; "
            'print(bad); sys.exit(1 if bad else 0)')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_registry_is_a_child_of_mmengine_root():
    from mmengine.registry import MODELS as ROOT_MODELS
    assert MODELS.parent is ROOT_MODELS
    assert ROOT_MODELS.children['mmmobileone'] is MODELS
    assert MODELS.get('MobileOne') is mmmobileone.MobileOne


def test_mmpretrain_image_classifier_builds_our_backbone():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    init_default_scope('mmpretrain')
    model = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmmobileone.MobileOne', arch='mu0'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=384,
                  loss=dict(type='CrossEntropyLoss'))))
    assert type(model.backbone) is mmmobileone.MobileOne
    images = torch.rand(2, 3, 64, 64)
    logits = model.eval()(images, mode='tensor')
    # the classifier's logits are its head applied to our backbone's pooled last stage
    with torch.no_grad():
        expected = model.head.fc(model.neck(model.backbone(images))[-1])
    assert logits.shape == (2, 7) and torch.allclose(logits, expected)


def test_mmdet_ssd_detector_builds_our_backbone():
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    model = DET_MODELS.build(dict(
        type='SingleStageDetector',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='mmmobileone.MobileOne', arch='mu0', out_indices=(2, 3)),
        neck=dict(type='SSDNeck', in_channels=(128, 384), out_channels=(128, 384, 64, 64),
                  level_strides=(2, 2), level_paddings=(1, 1), l2_norm_scale=None,
                  use_depthwise=True),
        bbox_head=dict(type='SSDHead', in_channels=(128, 384, 64, 64), num_classes=3,
                       use_depthwise=True,
                       anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                                             strides=[16, 32, 64, 128],
                                             ratios=[[2, 3], [2, 3], [2, 3], [2, 3]],
                                             input_size=128, min_sizes=[16, 40, 64, 96],
                                             max_sizes=[40, 64, 96, 128]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                                       target_means=[.0, .0, .0, .0],
                                       target_stds=[0.1, 0.1, 0.2, 0.2])),
        train_cfg=None, test_cfg=None))
    assert type(model.backbone) is mmmobileone.MobileOne
    model.eval()
    images = torch.rand(1, 3, 128, 128)
    # mu0's stages 3 and 4: 256 * 0.5 and 512 * 0.75 channels, at strides 16 and 32
    widths = ARCH_SETTINGS['mu0']['width_factor']
    assert [tuple(f.shape) for f in model.backbone(images)] == [
        (1, int(BASE_CHANNELS[2] * widths[2]), 8, 8), (1, int(BASE_CHANNELS[3] * widths[3]), 4, 4)]
    cls_scores, bbox_preds = model(images, mode='tensor')
    # SSD priors per location: the min-size box, the sqrt(min * max) box and 2 per ratio (r, 1/r);
    # 4 box deltas per prior, 3 classes + background per prior; levels at strides 16-128
    priors = 2 + 2 * 2
    sizes = [128 // stride for stride in (16, 32, 64, 128)]
    assert [tuple(s.shape) for s in cls_scores] == [(1, priors * (3 + 1), n, n) for n in sizes]
    assert [tuple(b.shape) for b in bbox_preds] == [(1, priors * 4, n, n) for n in sizes]


def test_mmseg_encoder_decoder_builds_our_backbone():
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS as SEG_MODELS
    init_default_scope('mmseg')
    model = SEG_MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size=(64, 64)),
        backbone=dict(type='mmmobileone.MobileOne', arch='mu0', out_indices=(3, ),
                      strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)),
        decode_head=dict(type='ASPPHead', in_channels=384, channels=32, in_index=0,
                         dilations=(1, 12, 24, 36), num_classes=5,
                         loss_decode=dict(type='CrossEntropyLoss')),
        test_cfg=dict(mode='whole')))
    assert type(model.backbone) is mmmobileone.MobileOne
    logits = model.eval()(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 5, 8, 8)  # output stride 8


@pytest.mark.slow
def test_mmpretrain_checkpoint_loads_strictly_with_identical_outputs():
    from mmpretrain.models.backbones import MobileOne as PretrainMobileOne
    for arch in ('s0', 's4'):
        theirs = randomize_bn(PretrainMobileOne(arch, out_indices=(0, 1, 2, 3)), seed=11)
        theirs.init_weights()
        randomize_bn(theirs, seed=11)
        ours = mmmobileone.MobileOne(arch, out_indices=(0, 1, 2, 3))
        ours.load_state_dict(theirs.state_dict(), strict=True)
        theirs.eval()
        ours.eval()
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            for a, b in zip(ours(x), theirs(x)):
                assert torch.equal(a, b)
            theirs.switch_to_deploy()
            ours_fused = mmmobileone.reparameterize_model(ours)
            assert sorted(ours_fused.state_dict()) == sorted(theirs.state_dict())
            for a, b in zip(ours_fused(x), theirs(x)):
                assert relative_error(a, b) < 1e-5
