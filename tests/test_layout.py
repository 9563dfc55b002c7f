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
@pytest.mark.slow
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


class _ConvBN(nn.Module):
    """A conv-BN pair of another library whose ``fuse()`` returns a new module (timm's
    convention): a single ``nn.Conv2d`` with the BatchNorm folded in."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def fuse(self) -> nn.Conv2d:
        scale = (self.bn.weight.double() / (self.bn.running_var.double() + self.bn.eps).sqrt())
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, 3, padding=1)
        conv.weight.copy_(self.conv.weight.double() * scale[:, None, None, None])
        conv.bias.copy_(self.bn.bias.double() - self.bn.running_mean.double() * scale)
        return conv


class _ConvBNHead(nn.Module):
    """A head holding a :class:`_ConvBN` one level down, applied to the last feature map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = _ConvBN(channels, 4)

    def forward(self, feats) -> torch.Tensor:
        return self.proj(feats[-1])


def test_fuse_returning_a_new_module_replaces_the_module_in_its_parent():
    """timm's convention, ``setattr(parent, name, child.fuse())``, next to our in-place units."""
    torch.manual_seed(0)
    model = nn.Sequential(_ConvBN(3, 3), MobileOne('mu0', out_indices=(3, )), _ConvBNHead(384))
    with torch.no_grad():  # non-trivial BN statistics and affine parameters to fold
        for bn in (model[0].bn, model[2].proj.bn):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fused = reparameterize_model(model)
        actual = fused(x)

    # the returned model holds the modules fuse() returned, in eval mode as the input
    assert type(fused[0]) is nn.Conv2d and type(fused[2].proj) is nn.Conv2d
    assert not fused[0].training and not fused[2].proj.training
    assert fused[1].deploy and not needs_fusion(fused)
    # outputs agree within float32 rounding of the unfused model's output
    assert actual.shape == expected.shape == (2, 4, 2, 2)
    worst = (actual - expected).abs().max().item()
    assert worst <= 1e-5 * expected.abs().max().item(), worst
    # the input is untouched: same module types, same form, bitwise the same tensors
    assert type(model[0]) is _ConvBN and type(model[2].proj) is _ConvBN
    assert not model[1].deploy and needs_fusion(model)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    # fusing again is a no-op; a fusible model itself is replaced by what its fuse() returns
    again = reparameterize_model(fused)
    assert type(again[0]) is nn.Conv2d and torch.equal(again[0].weight, fused[0].weight)
    alone = reparameterize_model(model[0])
    assert type(alone) is nn.Conv2d and torch.equal(alone.weight, fused[0].weight)


class _BadFuse(nn.Module):

    def fuse(self) -> bool:
        return True


def test_fuse_returning_neither_none_nor_a_module_is_an_error():
    with pytest.raises(TypeError, match=r'_BadFuse\.fuse\(\) returned bool; expected None'):
        reparameterize_model(nn.Sequential(_BadFuse()))
