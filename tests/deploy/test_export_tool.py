"""``tools/deployment/export.py``: one entry point for every runtime, with parity and clear
errors (issue 12)."""
import os
import re
import sys

import onnx
import pytest
import torch
from conftest import ROOT, randomize_bn

from mmmobileone.apis import init_model
from mmmobileone.deploy.backends import onnx as onnx_backend
from mmmobileone.deploy.export import BACKENDS, export_config
from tools.deployment.export import main

CONFIG = os.path.join(ROOT, 'configs/mobileone_s0_imagenet.py')
SHAPE = ['--shape', '64', '64']
LINE = re.compile(r'^logits max_abs_diff=(\S+) rel=(\S+)$', re.M)


@pytest.fixture(scope='module')
def training_checkpoint(tmp_path_factory):
    """An unfused (training) S0 checkpoint with calibrated random BatchNorm statistics."""
    torch.manual_seed(0)
    model = randomize_bn(init_model(CONFIG, None, fuse=False), seed=3,
                         calibrate_shape=(2, 3, 64, 64))
    path = str(tmp_path_factory.mktemp('ckpt') / 'mobileone_s0_train.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


@pytest.mark.parametrize('backend', ['onnx', 'ncnn'])
def test_exports_the_fused_network_and_prints_parity(backend, training_checkpoint, tmp_path,
                                                     capsys):
    out_dir = tmp_path / 'out'
    assert main([CONFIG, training_checkpoint, '--backend', backend, '--out-dir',
                 str(out_dir), *SHAPE]) == 0
    printed = capsys.readouterr().out
    (diff, rel), = LINE.findall(printed)
    assert 0 <= float(rel) < 1e-4 and float(diff) >= 0
    files = sorted(os.listdir(out_dir))
    if backend == 'onnx':
        assert files == ['mobileone_s0_imagenet.onnx']
        # fused: one Conv per unit, no BatchNormalization
        ops = {n.op_type for n in onnx.load(str(out_dir / files[0])).graph.node}
        assert 'Conv' in ops and 'BatchNormalization' not in ops
    else:
        assert files == ['mobileone_s0_imagenet.ncnn.bin', 'mobileone_s0_imagenet.ncnn.param']
        assert 'BatchNorm' not in (out_dir / files[1]).read_text()


def test_coreml_is_converted_and_checked(training_checkpoint, tmp_path, capsys):
    assert main([CONFIG, training_checkpoint, '--backend', 'coreml', '--out-dir',
                 str(tmp_path), *SHAPE, '--name', 's0']) == 0
    printed = capsys.readouterr().out
    assert os.listdir(tmp_path) == ['s0.mlpackage']
    if sys.platform != 'darwin':
        assert 'prediction needs macOS' in printed and not LINE.search(printed)


def test_unknown_backend_lists_the_supported_ones(training_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([CONFIG, training_checkpoint, '--backend', 'tensorrt', '--out-dir', str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'tensorrt'" in error and all(b in error for b in BACKENDS)
    with pytest.raises(ValueError, match='supported backends: onnx, executorch, litert, ncnn, '
                       'coreml'):
        export_config(CONFIG, training_checkpoint, 'tensorrt', str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_missing_runtime_package_names_the_extra(training_checkpoint, tmp_path, monkeypatch,
                                                 caplog):
    monkeypatch.setitem(sys.modules, 'litert_torch', None)  # import now raises ImportError
    assert main([CONFIG, training_checkpoint, '--backend', 'litert', '--out-dir',
                 str(tmp_path), *SHAPE]) == 1
    assert 'litert-torch' in caplog.text and 'pip install -e ".[deploy]"' in caplog.text
    assert os.listdir(tmp_path) == []


def test_failed_parity_exits_1_and_leaves_no_file(training_checkpoint, tmp_path, monkeypatch,
                                                  capsys, caplog):
    run = onnx_backend.run
    monkeypatch.setattr(onnx_backend, 'run',
                        lambda paths, inputs: [out * 1.001 for out in run(paths, inputs)])
    assert main([CONFIG, training_checkpoint, '--backend', 'onnx', '--out-dir', str(tmp_path),
                 *SHAPE]) == 1
    (_, rel), = LINE.findall(capsys.readouterr().out)
    assert float(rel) == pytest.approx(1e-3, rel=0.01)
    assert 'differs from PyTorch' in caplog.text
    assert os.listdir(tmp_path) == []
