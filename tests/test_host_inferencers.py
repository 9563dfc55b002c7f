"""The zoo's model names in the host libraries' own APIs (issue 19): ``init_model(NAME)``,
``mmpretrain.get_model(NAME)``, ``ImageClassificationInferencer(NAME)``, ``DetInferencer(NAME)``,
``MMSegInferencer(NAME)``, each compared with our own model on the same image."""
import inspect
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, randomize_bn
from mmengine.config import Config
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

from mmmobileone.apis import (build_inferencer, host_names, init_model, load_config, model_zoo,
                              register_model_names)
from mmmobileone.errors import ConfigError, MissingPathError

DET, SEG, CLS = 'ssdlite_mobileone-s0_coco', 'deeplabv3_mobileone-s0_voc', 'mobileone-s0_imagenet'


@pytest.fixture(scope='module')
def names():
    """The names registered with mmpretrain and mmengine's inferencers; mmengine's own method
    is back afterwards (the ModelHub entries stay: mmpretrain has no way to remove them)."""
    original = inspect.unwrap(BaseInferencer.__dict__['_load_model_from_metafile'])
    registered = register_model_names()
    yield registered
    host_names.remove_inferencer_names()
    assert BaseInferencer.__dict__['_load_model_from_metafile'] is original


def _image(seed: int, shape=(48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _checkpoint(name: str, path: str, scope: str, meta: dict, seed: int, edit=None) -> str:
    """A randomly initialized model of the zoo's ``name`` (random BN statistics) as a training
    checkpoint (no ``init_weights``: the configs' ``Pretrained`` would download)."""
    with DefaultScope.overwrite_default_scope(scope):
        torch.manual_seed(seed)
        model = MODELS.build(Config.fromfile(model_zoo.resolve_config(name)).model)
    randomize_bn(revert_sync_batchnorm(model), seed=seed)
    if edit is not None:
        edit(model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), path)
    return path


def test_init_model_and_load_config_take_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = osp.join(ROOT, 'configs', 'mobileone_s0_imagenet.py')
    for name in (CLS, 'MobileOne_S0_ImageNet', 'mobileone_s0_imagenet.py', path):
        assert load_config(name).filename == path, name
    model = init_model('mobileone-mu0_imagenet')  # random weights, fused
    assert type(model).__name__ == 'ImageClassifier' and model.backbone.deploy
    with pytest.raises(ConfigError) as error:
        init_model('mobileone-s9_imagenet')
    message = str(error.value)
    assert '\n' not in message and 'mobileone-s0_imagenet' in message.split('close matches:')[1]
    with pytest.raises(MissingPathError, match='not found'):
        load_config('configs/no_such_config.py')


@pytest.mark.slow
def test_names_are_opt_in_and_import_no_host_library():
    code = ('import sys, mmmobileone, mmmobileone.apis; '
            'from mmengine.infer import BaseInferencer as B; '
            "print(sorted(m for m in ('mmdet', 'mmseg', 'mmpretrain') if m in sys.modules), "
            "hasattr(B.__dict__['_load_model_from_metafile'], 'mmmobileone_zoo_root'))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.split('\n')[-2]
    assert out == '[] False'


def test_det_inferencer_takes_a_name_and_predicts_as_our_model(names, tmp_path):
    from mmdet.apis import DetInferencer, inference_detector
    from mmdet.datasets import CocoDataset

    def confident(model):  # random heads score ~1/81 everywhere, below test_cfg.score_thr
        with torch.no_grad():
            for conv in model.bbox_head.cls_convs:
                last = [m for m in conv.modules() if isinstance(m, torch.nn.Conv2d)][-1]
                last.bias.view(-1, 81)[:, :4] += 4.0

    classes = CocoDataset.METAINFO['classes']
    ckpt = _checkpoint(DET, str(tmp_path / 'det.pth'), 'mmdet', dict(classes=classes), 1,
                       confident)
    image = _image(0)
    inferencer = DetInferencer(DET.upper(), weights=ckpt, device='cpu', show_progress=False)
    got = inferencer(image, return_datasamples=True)['predictions'][0].pred_instances
    expected = inference_detector(init_model(DET, ckpt, fuse=False), image).pred_instances
    assert len(expected.scores) > 0
    assert torch.equal(got.labels, expected.labels)
    torch.testing.assert_close(got.scores, expected.scores, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.bboxes, expected.bboxes, rtol=1e-5, atol=1e-4)
    assert inferencer.model.dataset_meta['classes'] == classes


@pytest.mark.slow
def test_seg_inferencer_takes_a_name_and_predicts_as_our_model(names, tmp_path):
    from mmseg.apis import MMSegInferencer, inference_model
    from mmseg.datasets import PascalVOCDataset

    meta = dict(classes=PascalVOCDataset.METAINFO['classes'],
                palette=PascalVOCDataset.METAINFO['palette'])
    ckpt = _checkpoint(SEG, str(tmp_path / 'seg.pth'), 'mmseg', meta, 2)
    image = _image(1, (24, 32, 3))
    inferencer = MMSegInferencer('deeplabv3_mobileone_s0_voc', weights=ckpt, device='cpu')
    got = inferencer(image, return_datasamples=True)
    expected = inference_model(init_model(SEG, ckpt, fuse=False), image)
    torch.testing.assert_close(got.seg_logits.data, expected.seg_logits.data, rtol=1e-5,
                               atol=1e-5)
    assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)


@pytest.mark.slow
def test_mmpretrain_takes_the_classifier_names(names, tmp_path):
    import mmpretrain
    from mmpretrain.apis import ImageClassificationInferencer, ModelHub

    assert set(names['mmpretrain']) == {m.name for m in host_names.classifiers()}
    assert {f'mobileone-s{i}_imagenet' for i in range(5)} <= set(mmpretrain.list_models('mob*'))
    assert ModelHub.get('mobileone-s0_8xb32_in1k').name == 'mobileone-s0_8xb32_in1k'  # theirs
    assert register_model_names()['mmpretrain'] == names['mmpretrain']  # idempotent
    offline = mmpretrain.get_model(CLS)  # pretrained=False: nothing downloaded
    assert type(offline.backbone).__name__ == 'MobileOne'

    ckpt = _checkpoint(CLS, str(tmp_path / 'cls.pth'), 'mmpretrain',
                       dict(classes=[f'c{i}' for i in range(1000)]), 3)
    theirs = mmpretrain.get_model(CLS, pretrained=ckpt)
    ours, fused = init_model(CLS, ckpt, fuse=False), init_model(CLS, ckpt)
    batch = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = theirs(batch, mode='tensor')
        torch.testing.assert_close(logits, ours(batch, mode='tensor'), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(fused(batch, mode='tensor'), logits, rtol=1e-3, atol=1e-4)

    image = _image(2)
    got = ImageClassificationInferencer(CLS, pretrained=ckpt, device='cpu')(image)[0]
    expected = build_inferencer(fused)(image)[0]  # the demo's path: our fused model
    np.testing.assert_allclose(got['pred_scores'], expected['pred_scores'], rtol=1e-3,
                               atol=1e-6)
    assert got['pred_label'] == expected['pred_label']


def test_registered_configs_are_ours_with_the_host_loader(names):
    from mmpretrain.apis import ModelHub
    assert len(host_names.classifiers()) == 10
    # one per base config (the other ImageNet configs only change arch and head)
    for name in (CLS, 'mobileone-s0_custom_imagenet', 'mobileone-s0_synthetic'):
        model = model_zoo.find_model(name)
        registered = ModelHub.get(model.name).config
        ours = load_config(model.config_path)
        expected = host_names.inferencer_config(ours)
        assert registered.test_dataloader.dataset.pipeline[0].type == 'LoadImageFromFile'
        assert registered.to_dict() == expected.to_dict(), model.name  # nothing else differs
        assert ours.test_dataloader.dataset.pipeline[0].type == 'mmmobileone.LoadImageFromFile'


def test_unknown_names_and_other_tasks_give_one_line(names):
    from mmdet.apis import DetInferencer
    with pytest.raises(ConfigError) as error:
        DetInferencer('ssdlite_mobileone-s9_coco', device='cpu')
    message = str(error.value)
    assert '\n' not in message and "'ssdlite_mobileone-s9_coco'" in message
    assert 'ssdlite_mobileone-s0_coco' in message.split('close matches:')[1]
    with pytest.raises(ConfigError, match='MMSegInferencer'):
        DetInferencer(SEG, device='cpu')
    # the host's own names still resolve to its own configs (no download: weights not loaded)
    stub = DetInferencer.__new__(DetInferencer)
    stub.scope = 'mmdet'
    cfg, weights = stub._load_model_from_metafile('ssd300_coco')
    assert cfg.model.type == 'SingleStageDetector' and weights.startswith('https://')


def test_install_is_idempotent_and_reversible(names):
    method = BaseInferencer.__dict__['_load_model_from_metafile']
    original = method.__wrapped__
    host_names.install_inferencer_names()
    assert BaseInferencer.__dict__['_load_model_from_metafile'].__wrapped__ is original
    host_names.remove_inferencer_names()
    assert BaseInferencer.__dict__['_load_model_from_metafile'] is original
    assert not host_names.inferencer_names_installed()
    host_names.install_inferencer_names()
    assert host_names.inferencer_names_installed()
