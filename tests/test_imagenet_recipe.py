"""The ImageNet recipes: config values, progressive learning in a real Runner, train -> test."""
import copy
import glob
import json
import math
import os.path as osp
import pickle

import mmpretrain
import numpy as np
import pytest
import torch
from conftest import ROOT, relative_error
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.evaluation import Accuracy
from mmpretrain.registry import MODELS

from mmmobileone.analysis import fused_classifier_complexity
from mmmobileone.datasets.synthetic import generate_imagenet
from mmmobileone.integrations.mmpretrain import (ProgressiveLearningHook, ScaledAutoAugment,
                                                 find_train_transforms, scale_policy)
from tools.test import test as run_test
from tools.train import train as run_train

VARIANTS = ('s0', 's1', 's2', 's3', 's4', 'mu0', 'mu1', 'mu2')
AUTOAUGMENT = ('s2', 's3', 's4')
HEAD_CHANNELS = dict(s0=1024, s1=1280, s2=2048, s3=2048, s4=2048, mu0=384, mu1=512, mu2=512)
# fused params with the 1000-class head, in millions (paper Tables 9, 17; README's table)
PAPER_PARAMS_M = dict(s0=2.08, s1=4.76, s2=7.81, s3=10.08, s4=14.84, mu0=0.56, mu1=0.97,
                      mu2=1.26)


def config_path(arch: str) -> str:
    return osp.join(ROOT, 'configs', f'mobileone_{arch}_imagenet.py')


def hook_cfg(cfg: Config, hook_type: str) -> dict:
    matches = [h for h in cfg.custom_hooks if h['type'].split('.')[-1] == hook_type]
    assert len(matches) == 1, f'{hook_type} should appear once in {cfg.custom_hooks}'
    return matches[0]


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build everything from mmpretrain's registries, whatever scope earlier tests left."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def build_classifier(cfg: Config, deploy: bool = False) -> torch.nn.Module:
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    model_cfg.backbone.deploy = deploy
    return MODELS.build(model_cfg)


# ------------------------------------------------------------------------ recipe values


@pytest.mark.parametrize('arch', VARIANTS)
def test_config_follows_paper_recipe(arch):
    cfg = Config.fromfile(config_path(arch))
    assert 'mmmobileone.integrations.mmpretrain' in cfg.custom_imports.imports
    assert cfg.default_scope == 'mmpretrain'
    # 300 epochs, 8 GPUs x 32 = 256, SGD lr 0.1 momentum 0.9 wd 1e-4
    assert cfg.train_cfg.max_epochs == 300 and cfg.train_cfg.by_epoch
    assert cfg.train_dataloader.batch_size * 8 == 256 == cfg.auto_scale_lr.base_batch_size
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD', 0.1, 0.9, 1e-4)
    # cosine lr to 0 and the same cosine for weight decay: 1e-4 -> 1e-5, over all 300 epochs
    lr_sched, wd_sched = cfg.param_scheduler
    assert lr_sched.type == 'CosineAnnealingLR' and lr_sched.eta_min == 0
    assert wd_sched.type == 'CosineAnnealingParamScheduler'
    assert wd_sched.param_name == 'weight_decay'
    assert math.isclose(optimizer.weight_decay * wd_sched.eta_min_ratio, 1e-5)
    for sched in (lr_sched, wd_sched):
        assert (sched.begin, sched.end, sched.by_epoch) == (0, 300, True)
        assert sched.convert_to_iter_based and 'T_max' not in sched
    # label smoothing 0.1, EMA decay 0.9995, the fused net is validated
    assert cfg.model.head.loss.type == 'LabelSmoothLoss'
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert math.isclose(1 - hook_cfg(cfg, 'EMAHook').momentum, 0.9995)
    hook_cfg(cfg, 'ReparamHook')
    # progressive learning, paper Table 15
    progressive = hook_cfg(cfg, 'ProgressiveLearningHook')
    hook = ProgressiveLearningHook(progressive.milestones, progressive.resolutions,
                                   progressive.strengths)
    table15 = {0: (160, 0.3), 38: (160, 0.3), 39: (192, 0.6), 113: (192, 0.6), 114: (224, 1.0),
               299: (224, 1.0)}
    assert {epoch: hook.recipe(epoch) for epoch in table15} == table15
    # AutoAugment only for S2-S4; evaluation at 224 (resize 256, centre crop 224)
    train_types = [t['type'].split('.')[-1] for t in cfg.train_dataloader.dataset.pipeline]
    assert ('ScaledAutoAugment' in train_types) == (arch in AUTOAUGMENT)
    assert train_types[:3] == ['LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip']
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.data_root == 'data/imagenet'
        resize, crop = loader.dataset.pipeline[1:3]
        assert (resize.type, resize.scale, resize.edge) == ('ResizeEdge', 256, 'short')
        assert (crop.type, crop.crop_size) == ('CenterCrop', 224)
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'
    assert cfg.model.backbone.arch == arch
    assert cfg.model.head.in_channels == HEAD_CHANNELS[arch]


@pytest.mark.slow
@pytest.mark.parametrize('arch', VARIANTS)
def test_config_builds_paper_sized_model(arch):
    cfg = Config.fromfile(config_path(arch))
    train_time = build_classifier(cfg)
    deployed = build_classifier(cfg, deploy=True)  # what reparameterization produces
    params = sum(p.numel() for p in deployed.parameters())
    expected, _ = fused_classifier_complexity(arch, resolution=32)
    assert params == expected
    assert round(params / 1e6, 2) == PAPER_PARAMS_M[arch]
    assert sum(p.numel() for p in train_time.parameters()) > params


# ------------------------------------------------------------------------ scaled AutoAugment


def test_scale_policy_scales_the_magnitude_level():
    assert scale_policy(dict(type='Rotate', angle=30., prob=0.6), 0.3)['angle'] == pytest.approx(9)
    assert scale_policy(dict(type='Posterize', bits=4, prob=0.4), 0.5)['bits'] == 6
    assert scale_policy(dict(type='Solarize', thr=64., prob=0.6), 0.5)['thr'] == 160
    assert scale_policy(dict(type='Contrast', magnitude=0.8), 0.6)['magnitude'] == pytest.approx(
        0.48)
    assert scale_policy(dict(type='Equalize', prob=0.8), 0.3) == dict(type='Equalize', prob=0.8)
    with pytest.raises(ValueError, match=r'strength must be a number in \[0, 1\]'):
        scale_policy(dict(type='Rotate', angle=30.), 1.5)
    with pytest.raises(ValueError, match='cannot scale AutoAugment operation'):
        scale_policy(dict(type='GaussianBlur', radius=2), 0.5)
    with pytest.raises(ValueError, match="explicitly as 'angle'"):
        scale_policy(dict(type='Rotate', magnitude_range=(0, 30)), 0.5)


def test_scaled_autoaugment_rebuilds_operations():
    augment = ScaledAutoAugment(strength=0.3)
    rotate = augment.transforms[0].transforms[1]
    assert rotate.angle == pytest.approx(9)
    augment.strength = 1.0
    assert augment.transforms[0].transforms[1].angle == pytest.approx(30)
    augment.strength = 0.0
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    # strength 0: posterize keeps 8 bits and rotates by 0 degrees -> identity
    assert np.array_equal(augment.transforms[0](dict(img=image.copy()))['img'], image)
    with pytest.raises(ValueError, match='strength'):
        augment.strength = -0.1


def test_progressive_hook_rejects_bad_schedules():
    with pytest.raises(ValueError, match='strictly increasing'):
        ProgressiveLearningHook(milestones=(5, 5), resolutions=(1, 2, 3))
    with pytest.raises(ValueError, match='2 milestones make 3 phases'):
        ProgressiveLearningHook(milestones=(1, 2), resolutions=(160, 224))
    with pytest.raises(ValueError, match='strengths'):
        ProgressiveLearningHook(strengths=(0.3, 0.6, 2.0))


# ------------------------------------------------------------------------ progressive switch


class RecordRecipe(Hook):
    """Record, per epoch, the pipeline's crop size and strength and the batches' image sizes."""

    priority = 'LOWEST'

    def __init__(self):
        self.pipeline, self.batches = {}, {}

    def before_train_epoch(self, runner):
        crops, augments = find_train_transforms(runner.train_dataloader.dataset)
        self.pipeline[runner.epoch] = (crops[0].scale, augments[0].strength)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        sizes = {tuple(img.shape[-2:]) for img in data_batch['inputs']}  # from the workers
        self.batches.setdefault(runner.epoch, set()).update(sizes)


def _short_schedule_cfg(data_root: str, work_dir: str) -> Config:
    """The S2 recipe (AutoAugment) on a mu0 backbone, 4 epochs in 3 phases: 0 | 1 2 | 3."""
    cfg = Config.fromfile(config_path('s2'))
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'model.backbone.arch': 'mu0',
        'model.head.in_channels': HEAD_CHANNELS['mu0'],
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 1,  # persistent: the hook must restart it
        'train_cfg.max_epochs': 4,
        'custom_hooks.0.milestones': (1, 3),
        'custom_hooks.0.resolutions': (32, 40, 48),
        'default_hooks.logger.interval': 1,
    })
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    return cfg


def _assert_cosine_schedules(runner) -> None:
    """lr 0.1 -> 0 and weight decay 1e-4 -> 1e-5 on the same per-iteration cosine (300 epochs)."""
    total = 300 * len(runner.train_dataloader)
    cosine = (1 + math.cos(math.pi * runner.iter / total)) / 2
    (group, ) = runner.optim_wrapper.optimizer.param_groups
    assert group['lr'] == pytest.approx(0.1 * cosine, rel=1e-9)
    assert group['weight_decay'] == pytest.approx(1e-5 + 9e-5 * cosine, rel=1e-9)
    assert cosine < 1 - 1e-4  # the schedules did move


@pytest.mark.slow
def test_progressive_learning_switches_in_runner_and_after_resume(tmp_path):
    data_root = str(tmp_path / 'imagenet')
    generate_imagenet(data_root, classes=2, train_per_class=4, val_per_class=1, image_size=32)
    cfg = _short_schedule_cfg(data_root, str(tmp_path / 'work'))
    assert cfg.train_dataloader.persistent_workers
    expected = {0: (32, 0.3), 1: (40, 0.6), 2: (40, 0.6), 3: (48, 1.0)}

    runner = Runner.from_cfg(copy.deepcopy(cfg))
    probe = RecordRecipe()
    runner.register_hook(probe)
    runner.train()
    assert probe.pipeline == {e: ((r, r), s) for e, (r, s) in expected.items()}
    assert probe.batches == {e: {(r, r)} for e, (r, _) in expected.items()}
    _assert_cosine_schedules(runner)

    # resume after epoch 2 of 4: the next epoch (index 2) lies inside phase 2 (epochs 1-2)
    resumed_cfg = copy.deepcopy(cfg)
    resumed_cfg.resume = True
    resumed_cfg.load_from = osp.join(cfg.work_dir, 'epoch_2.pth')
    runner = Runner.from_cfg(resumed_cfg)
    probe = RecordRecipe()
    runner.register_hook(probe)
    runner.train()
    later = {e: expected[e] for e in (2, 3)}
    assert probe.pipeline == {e: ((r, r), s) for e, (r, s) in later.items()}
    assert probe.batches == {e: {(r, r)} for e, (r, _) in later.items()}
    _assert_cosine_schedules(runner)


# ------------------------------------------------------------------------ train -> test


def _logged_val_metrics(work_dir: str) -> list:
    (scalars, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if 'accuracy/top1' in r]


def _predict(model: torch.nn.Module, loader) -> tuple:
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, training=False)
            scores.append(model(data['inputs'], mode='tensor'))
            labels += [int(sample.gt_label) for sample in data['data_samples']]
    return torch.cat(scores), torch.tensor(labels)


def _accuracy(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """Top-1/top-5 as mmpretrain's Accuracy metric computes them (on softmax scores)."""
    top1, top5 = Accuracy.calculate(scores.softmax(dim=1), labels, topk=(1, 5))
    return {'accuracy/top1': float(top1[0]), 'accuracy/top5': float(top5[0])}


@pytest.mark.slow
def test_train_then_test_evaluates_and_ships_the_fused_ema_model(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' default data root: data/imagenet
    generate_imagenet('data/imagenet', classes=4, train_per_class=4, val_per_class=2,
                      image_size=48)
    config = config_path('mu0')
    work_dir = str(tmp_path / 'work')
    small = ['train_dataloader.batch_size=8', 'train_dataloader.num_workers=1',
             'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
             'custom_hooks.0.resolutions=(64,64,64)']
    runner = run_train([config, '--work-dir', work_dir, '--cfg-options',
                        'train_cfg.max_epochs=2', *small])

    logged = _logged_val_metrics(work_dir)
    assert [r['step'] for r in logged] == [1, 2]  # one validation per epoch

    # the deployed checkpoint: fused EMA weights, loads into the config with deploy=True
    cfg = Config.fromfile(config)
    deploy_ckpt = torch.load(osp.join(work_dir, 'deploy.pth'), weights_only=True)
    assert deploy_ckpt['meta']['deploy'] is True
    deployed = build_classifier(cfg, deploy=True)
    deployed.load_state_dict(deploy_ckpt['state_dict'])
    loader = Runner.build_dataloader(dict(cfg.test_dataloader, num_workers=0))
    scores, labels = _predict(deployed, loader)
    assert len(labels) == 8

    # the logged validation metric of the last epoch is the fused model's
    fused_accuracy = _accuracy(scores, labels)
    assert {k: logged[-1][k] for k in fused_accuracy} == pytest.approx(fused_accuracy)

    # the deployed model reproduces the trained EMA model, not the raw training weights
    (ema_hook, ) = [h for h in runner.hooks if type(h).__name__ == 'EMAHook']
    ema_scores, _ = _predict(copy.deepcopy(ema_hook.ema_model.module), loader)
    raw_scores, _ = _predict(copy.deepcopy(runner.model), loader)
    assert relative_error(scores, ema_scores) < 1e-4
    assert relative_error(scores, raw_scores) > 1e-2

    # tools/test.py on the training checkpoint: fused EMA model, same metrics and scores
    out = str(tmp_path / 'preds.pkl')
    metrics = run_test([config, osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
                        str(tmp_path / 'test'), '--out', out, '--cfg-options', *small[2:4]])
    assert metrics == pytest.approx(fused_accuracy)
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    dumped = torch.stack([torch.as_tensor(p['pred_score']) for p in predictions])
    assert relative_error(dumped, scores.softmax(dim=1)) < 1e-4

    # tools/test.py on deploy.pth with the documented flag gives the same metrics
    deploy_metrics = run_test([config, osp.join(work_dir, 'deploy.pth'), '--work-dir',
                               str(tmp_path / 'test_deploy'), '--cfg-options',
                               'model.backbone.deploy=True', *small[2:4]])
    assert deploy_metrics == pytest.approx(metrics)


def test_mmpretrain_mobileone_recipe_never_switches():
    """The defect our hook replaces: mmpretrain's SwitchRecipeHook gets keys it ignores."""
    cfg = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mobileone',
                                   'mobileone-s2_8xb32_in1k.py'))
    (switch, ) = [h for h in cfg.custom_hooks if h.type == 'SwitchRecipeHook']
    assert [sorted(item) for item in switch.schedule] == [['action_epoch', 'pipeline']] * 2
    # the hook only acts on train_pipeline / batch_augments / loss
    assert not any({'train_pipeline', 'batch_augments', 'loss'} & set(item)
                   for item in switch.schedule)
