"""The layout's rules, checked: the package has no command lines, old import paths still work,
and whole-model fusion finds every re-parameterizable module by duck typing."""
import ast
import os
import os.path as osp
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import ROOT
from torch import nn

from mmmobileone import MobileOne, reparameterize_model
from mmmobileone.models import needs_fusion

PACKAGE = osp.join(ROOT, 'mmmobileone')


def _package_modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                yield osp.join(folder, name)


def test_no_module_in_the_package_parses_arguments_or_configures_logging():
    offenders = []
    for path in _package_modules():
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            imported = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module] if isinstance(node, ast.ImportFrom) else [])
            if 'argparse' in imported:
                offenders.append(f'{osp.relpath(path, ROOT)}: imports argparse')
            if (isinstance(node, ast.Attribute) and node.attr == 'basicConfig'):
                offenders.append(f'{osp.relpath(path, ROOT)}: logging.basicConfig')
    assert offenders == []


@pytest.mark.parametrize('old,new,name', [
    ('mmmobileone.det', 'mmmobileone.integrations.mmdet', 'FixedSSDHead'),
    ('mmmobileone.seg', 'mmmobileone.integrations.mmseg', 'COCOVOCDataset'),
    ('mmmobileone.cls', 'mmmobileone.integrations.mmpretrain', 'ProgressiveLearningHook'),
])
def test_old_custom_imports_still_work_and_warn(old, new, name):
    script = (f'import warnings\nwarnings.simplefilter("always")\n'
              f'with warnings.catch_warnings(record=True) as caught:\n'
              f'    import {old} as old\n'
              f'import {new} as new\n'
              f'assert old.{name} is new.{name}\n'
              f'print([str(w.message) for w in caught if w.category is DeprecationWarning])\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"'{old}' is deprecated" in result.stdout and new in result.stdout


def test_deprecated_head_name_builds_the_fixed_head():
    from mmdet.registry import MODELS

    from mmmobileone.integrations.mmdet import FixedSSDHead
    kwargs = dict(num_classes=2, in_channels=(8, 8), use_depthwise=True,
                  anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                                        input_size=64, strides=[16, 32],
                                        ratios=[[2, 3], [2, 3]], min_sizes=[8, 16],
                                        max_sizes=[16, 32]))
    with pytest.warns(DeprecationWarning, match='FixedSSDHead'):
        old = MODELS.build(dict(type='mmmobileone.SSDLiteHead', **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        new = MODELS.build(dict(type='mmmobileone.FixedSSDHead', **kwargs))
    assert isinstance(old, FixedSSDHead) and type(new) is FixedSSDHead
    assert old.state_dict().keys() == new.state_dict().keys()


class _TwoConvNeck(nn.Module):
    """A re-parameterizable neck of another library: two parallel 1x1 convs that fuse into one."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, 8, 1)
        self.b = nn.Conv2d(channels, 8, 1)
        self.merged = None

    def _merge(self) -> None:
        self.merged = nn.Conv2d(self.a.in_channels, 8, 1)
        self.merged.weight.copy_(self.a.weight + self.b.weight)
        self.merged.bias.copy_(self.a.bias + self.b.bias)
        del self.a, self.b

    def forward(self, feats):
        x = feats[-1]
        return self.merged(x) if self.merged is not None else self.a(x) + self.b(x)


class _FuseNeck(_TwoConvNeck):

    def fuse(self) -> None:
        self._merge()


class _ReparameterizeNeck(_TwoConvNeck):

    def reparameterize(self) -> None:
        self._merge()


@pytest.mark.parametrize('neck_class', [_FuseNeck, _ReparameterizeNeck])
def test_whole_model_fusion_is_duck_typed(neck_class):
    """timm-style fuse() / reparameterize() necks are fused along with our backbone."""
    model = nn.Sequential(MobileOne('mu0', out_indices=(3, )), neck_class(384)).eval()
    x = torch.rand(1, 3, 64, 64)
    expected = model(x)
    assert needs_fusion(model)
    fused = reparameterize_model(model)
    assert fused[0].deploy and fused[1].merged is not None and not hasattr(fused[1], 'a')
    assert not needs_fusion(fused)
    assert hasattr(model[1], 'a') and not model[0].deploy  # the input is untouched
    assert torch.allclose(fused(x), expected, atol=1e-5, rtol=1e-4)
    assert reparameterize_model(fused)[1].merged is not None  # fusing twice is a no-op
