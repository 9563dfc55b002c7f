"""ReparamHook in a real mmengine Runner: classifier, detector and segmentor, with EMAHook.

Each run trains the tiny MobileOne a few iterations on generated data and checks that
* every validation runs a fused, unwrapped copy of the EMA weights (numerically),
* the training model, EMA state and optimizer state are bitwise unchanged by validation,
* deploy.pth loads into the deploy=True config and reproduces the last checkpoint's outputs,
* the converter API gives the same deployed weights from the training checkpoint.
"""
import copy
import os.path as osp

import pytest
import torch
from conftest import relative_error
from helpers import (cls_config, det_config, make_cls_data, make_det_data, make_seg_data,
                     seg_config, write_config)
from mmengine.config import Config
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

from mmmobileone import ReparamHook
from mmmobileone.apis import build_model as build_model_from_config
from mmmobileone.apis import fuse_checkpoint as convert_checkpoint
from mmmobileone.models import needs_fusion

TASKS = dict(cls=(make_cls_data, cls_config, (32, 32)),
             det=(make_det_data, det_config, (64, 64)),
             seg=(make_seg_data, seg_config, (32, 32)))


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _clone_state(obj):
    return copy.deepcopy(obj.state_dict())


def _assert_bitwise_equal(before, after, what):
    if isinstance(before, torch.Tensor):
        assert torch.equal(before, after), f'{what} changed during validation'
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), what
        for key in before:
            _assert_bitwise_equal(before[key], after[key], f'{what}[{key!r}]')
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), what
        for i, (b, a) in enumerate(zip(before, after)):
            _assert_bitwise_equal(b, a, f'{what}[{i}]')
    else:
        assert before == after, what


@torch.no_grad()
def _tensor_outputs(model, inputs):
    outputs = model(inputs, mode='tensor')
    flat, stack = [], [outputs]
    while stack:
        item = stack.pop(0)
        if isinstance(item, torch.Tensor):
            flat.append(item)
        elif isinstance(item, (list, tuple)):
            stack = list(item) + stack
    return flat


def _max_relative_error(actual, expected):
    assert len(actual) == len(expected)
    return max(relative_error(a, e) for a, e in zip(actual, expected))


class Snapshot(Hook):
    """Priority HIGHEST: records model, EMA and optimizer state before anything touches them."""

    priority = 'HIGHEST'

    def __init__(self):
        self.states = None
        self.model = None

    def before_val_epoch(self, runner):
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        self.model = runner.model
        self.states = dict(model=_clone_state(_unwrap(runner.model)),
                           ema=_clone_state(ema.ema_model),
                           optimizer=_clone_state(runner.optim_wrapper))


class Check(Hook):
    """Priority LOWEST: compares after every other hook has restored its state."""

    priority = 'LOWEST'

    def __init__(self, snapshot, image_size):
        self.snapshot = snapshot
        self.image_size = image_size
        self.validations = 0
        self.errors = []

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx:
            return
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        assert runner.model is not self.snapshot.model
        assert not is_model_wrapper(runner.model)
        assert not needs_fusion(runner.model)
        assert not runner.model.training
        # EMAHook has swapped the EMA weights into the training model and the raw weights
        # into its ema_model: the validated model must be the fused EMA weights.
        inputs = torch.randn(2, 3, *self.image_size, generator=torch.Generator().manual_seed(0))
        fused = _tensor_outputs(runner.model, inputs)
        ema_weights = _tensor_outputs(copy.deepcopy(ema.src_model).eval(), inputs)
        raw_weights = _tensor_outputs(copy.deepcopy(ema.ema_model.module).eval(), inputs)
        self.errors.append((_max_relative_error(fused, ema_weights),
                            _max_relative_error(fused, raw_weights)))

    def after_val_epoch(self, runner, metrics=None):
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        assert runner.model is self.snapshot.model
        _assert_bitwise_equal(self.snapshot.states['model'], _unwrap(runner.model).state_dict(),
                              'model')
        _assert_bitwise_equal(self.snapshot.states['ema'], ema.ema_model.state_dict(), 'EMA')
        _assert_bitwise_equal(self.snapshot.states['optimizer'],
                              runner.optim_wrapper.state_dict(), 'optimizer')
        self.validations += 1


def _train(kind, tmp_path, **kwargs):
    make_data, make_config, image_size = TASKS[kind]
    data_root = make_data(str(tmp_path / 'data'))
    # through a file, as a user's run: Config.fromfile imports the config's custom_imports
    cfg = Config.fromfile(write_config(make_config(data_root, str(tmp_path / 'work'), **kwargs),
                                       str(tmp_path / f'{kind}.py')))
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    snapshot = Snapshot()
    check = Check(snapshot, image_size)
    runner.register_hook(snapshot)
    runner.register_hook(check)
    runner.train()
    return cfg, runner, check


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['cls', 'det', 'seg'])
def test_validation_and_deploy(kind, tmp_path):
    cfg, runner, check = _train(kind, tmp_path, max_epochs=2 if kind == 'cls' else 1)
    max_epochs = cfg.train_cfg.max_epochs
    assert check.validations == max_epochs
    for to_ema, to_raw in check.errors:
        assert to_ema < 1e-5  # fused copy of the EMA weights ...
        assert to_raw > 1e3 * max(to_ema, 1e-9)  # ... and clearly not of the raw weights
    hook_order = [type(h).__name__ for h in runner.hooks]
    assert hook_order.index('EMAHook') < hook_order.index('ReparamHook')

    # deploy.pth: the fused EMA weights; the last checkpoint's state_dict holds the EMA weights
    work_dir = cfg.work_dir
    deployed = torch.load(osp.join(work_dir, 'deploy.pth'), weights_only=True)
    assert deployed['meta']['deploy'] is True and deployed['meta']['weights'] == 'ema'
    assert deployed['meta']['dataset_meta']['classes']
    last = torch.load(osp.join(work_dir, f'epoch_{max_epochs}.pth'), weights_only=True)
    train_model = build_model_from_config(cfg).eval()
    train_model.load_state_dict(last['state_dict'], strict=True)
    deploy_cfg = copy.deepcopy(cfg)
    deploy_cfg.model.backbone.deploy = True
    deploy_model = build_model_from_config(deploy_cfg).eval()
    deploy_model.load_state_dict(deployed['state_dict'], strict=True)
    assert sum(p.numel() for p in deploy_model.parameters()) < sum(
        p.numel() for p in train_model.parameters())
    inputs = torch.randn(2, 3, *check.image_size, generator=torch.Generator().manual_seed(1))
    assert _max_relative_error(_tensor_outputs(deploy_model, inputs),
                               _tensor_outputs(train_model, inputs)) < 1e-5

    # the converter reaches the same deployed weights from the training checkpoint
    out = str(tmp_path / 'converted.pth')
    report = convert_checkpoint(cfg, osp.join(work_dir, f'epoch_{max_epochs}.pth'), out,
                                input_shape=check.image_size)
    assert report.relative_error < 1e-5 and report.params_after < report.params_before
    converted = torch.load(out, weights_only=True)
    assert converted['state_dict'].keys() == deployed['state_dict'].keys()
    for key, value in deployed['state_dict'].items():
        torch.testing.assert_close(converted['state_dict'][key], value, rtol=1e-5, atol=1e-6)
    assert converted['meta']['dataset_meta'] == last['meta']['dataset_meta']


def test_hook_order_with_ema_is_enforced(tmp_path):
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=1)
    cfg = cls_config(data_root, str(tmp_path / 'work'), max_epochs=1)
    cfg['custom_hooks'][1]['priority'] = 'HIGH'  # before EMAHook (ABOVE_NORMAL)
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(ValueError, match='runs before EMAHook'):
        runner.train()


def test_mmpretrain_ema_evaluate_on_origin_is_refused(tmp_path):
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=1)
    cfg = cls_config(data_root, str(tmp_path / 'work'), max_epochs=1)
    cfg['custom_hooks'][0]['evaluate_on_origin'] = True
    runner = Runner.from_cfg(Config(cfg))
    with pytest.raises(ValueError, match='evaluate_on_origin'):
        runner.train()


def test_constructor_and_flags(tmp_path):
    with pytest.raises(ValueError, match='deploy_filename'):
        ReparamHook(deploy_filename='')
    # fuse_val=False validates the train-time model; save_deploy=False writes no deploy.pth
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=1)
    cfg = cls_config(data_root, str(tmp_path / 'work'), max_epochs=1, ema=False)
    cfg['custom_hooks'] = [dict(type='mmmobileone.ReparamHook', fuse_val=False,
                                save_deploy=False)]
    seen = []

    class Seen(Hook):
        def before_val_iter(self, runner, batch_idx, data_batch=None):
            seen.append(needs_fusion(runner.model))

    runner = Runner.from_cfg(Config(cfg))
    runner.register_hook(Seen(), priority='LOWEST')
    runner.train()
    assert seen and all(seen)
    assert not osp.exists(osp.join(cfg['work_dir'], 'deploy.pth'))


def test_syncbn_model_fuses_and_validates_single_process(tmp_path):
    """A config with SyncBN: the model built from it fuses exactly (eval mode needs no process
    group); in a single-process Runner mmengine reverts SyncBN to BN, and validation and
    deploy.pth still run on the fused network. (SyncBN kept under DDP: tests/test_dist.py.)"""
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=2)
    cfg = Config(cls_config(data_root, str(tmp_path / 'work'), max_epochs=1,
                            norm_cfg=dict(type='SyncBN')))
    model = build_model_from_config(cfg).eval()
    syncbn = [m for m in model.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
    assert syncbn
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for bn in syncbn:
            bn.running_mean.normal_(0, 0.1, generator=generator)
            bn.running_var.uniform_(0.5, 1.5, generator=generator)
    from mmmobileone import reparameterize_model
    fused = reparameterize_model(model)
    assert not any(isinstance(m, _BatchNorm) for m in fused.backbone.modules())
    inputs = torch.randn(2, 3, 32, 32, generator=generator)
    assert _max_relative_error(_tensor_outputs(fused, inputs),
                               _tensor_outputs(model, inputs)) < 1e-5

    runner = Runner.from_cfg(copy.deepcopy(cfg))
    snapshot = Snapshot()
    check = Check(snapshot, (32, 32))
    runner.register_hook(snapshot)
    runner.register_hook(check)
    runner.train()
    assert check.validations == 1 and check.errors[0][0] < 1e-5
    assert osp.isfile(osp.join(cfg.work_dir, 'deploy.pth'))
