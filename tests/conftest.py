"""Shared test helpers."""
import os
import sys

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PERT_MEAN, PERT_VAR = 0.1, 0.2
# one intra-op thread: on 2 shared cores, small convolutions slow down ~100x with 2 threads
torch.set_num_threads(1)


def randomize_bn(model: torch.nn.Module, seed: int = 0,
                 calibrate_shape=(4, 3, 64, 64)) -> torch.nn.Module:
    """Randomize every BatchNorm's affine parameters and running statistics (in place).

    Running statistics are first calibrated to the model's real activations on a random batch
    of ``calibrate_shape`` (so that activations stay O(1), as in a trained network), then
    perturbed at random: mean shifted by 0.2 std, variance scaled by 0.7-1.4. Pass
    ``calibrate_shape=None`` for purely random statistics.
    """
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    # each unit sums its (correlated) branches: scale their BN weights by 1/branches so the sum
    # keeps unit variance, as training would make it
    gain = {}
    for unit in model.modules():
        branches = [m for m in unit.modules() if isinstance(m, _BatchNorm)]
        if type(unit).__name__ in ('MobileOneUnit', 'MobileOneBlock') and branches:
            gain.update({id(bn): 1.0 / len(branches) for bn in branches})
    with torch.no_grad():
        for module in model.modules():  # squeeze-excitation: keep gate logits O(1)
            if type(module).__name__ in ('SqueezeExcitation', 'SELayer'):
                for conv in (module.conv1.conv, module.conv2.conv):
                    conv.weight.normal_(0, 0.01 * conv.in_channels**-0.5, generator=generator)
                    conv.bias.zero_()
        for bn in norms:
            if bn.weight is not None:
                scale = gain.get(id(bn), 1.0)
                bn.weight.copy_((torch.rand(bn.num_features, generator=generator) * 0.5 + 0.75)
                                * scale)
                bn.bias.copy_(torch.randn(bn.num_features, generator=generator) * 0.1 * scale)
        if calibrate_shape is not None:
            momenta = [bn.momentum for bn in norms]
            was_training = model.training
            for bn in norms:
                bn.reset_running_stats()
                bn.momentum = None
            model.train()
            model(torch.randn(*calibrate_shape, generator=generator))
            model.train(was_training)
            for bn, momentum in zip(norms, momenta):
                bn.momentum = momentum
        for bn in norms:
            n = bn.num_features
            if calibrate_shape is None:
                bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                bn.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.5)
            else:
                std = bn.running_var.sqrt()
                bn.running_mean.add_(PERT_MEAN * std * torch.randn(n, generator=generator))
                bn.running_var.mul_(1 + PERT_VAR * (2 * torch.rand(n, generator=generator) - 1))
    return model


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Norm-wise relative error ``||actual - expected|| / ||expected||`` (computed in float64)."""
    actual, expected = actual.double(), expected.double()
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-300)).item()


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Element-wise bound ``max |actual - expected| / max |expected|`` (stricter)."""
    actual, expected = actual.double(), expected.double()
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-300)).item()


@pytest.fixture(autouse=True)
def _isolate_test():
    """Seed torch; keep mmengine's global default scope from leaking into the next test."""
    from mmengine.registry import DefaultScope
    saved = dict(DefaultScope._instance_dict)
    torch.manual_seed(0)  # every test sees the same initial weights, whatever ran before it
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture
def repo_root() -> str:
    return ROOT


def s0_classifier_config(num_classes: int) -> str:
    """Text of an mmpretrain config: MobileOne-S0 + global pooling + a linear head."""
    return f"""
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmmobileone'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmmobileone.MobileOne', arch='s0'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={num_classes}, in_channels=1024))
"""


#: The quickstart as the suite trains it: ``tools/quickstart.py`` with fewer images (the same
#: config, schedule and seed); see docs/detection.md for what the full-size run reaches.
QUICKSTART_TEST_ARGS = ('--num-train', '200', '--num-val', '40', '--demo-images', '2')


@pytest.fixture(scope='session')
def trained_quickstart(tmp_path_factory):
    """``tools/quickstart.py`` run once per session on a smaller dataset: its summary, data
    root and work dir (data, train, test, fuse and demo all really run)."""
    from tools.quickstart import run_quickstart as quickstart
    root = tmp_path_factory.mktemp('quickstart')
    data_root, work_dir = str(root / 'data' / 'coco_synthetic'), str(root / 'work')
    summary = quickstart([*QUICKSTART_TEST_ARGS, '--data-root', data_root,
                          '--work-dir', work_dir])
    return dict(summary=summary, data_root=data_root, work_dir=work_dir)
