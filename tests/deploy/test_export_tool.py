"""``tools/deployment/export.py``: one entry point for every runtime, with parity and clear
errors (issue 12)."""
import os
import re
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, randomize_bn
from deploy_marks import backend_params, needs_backend

from mmmobileone.apis import init_model
from mmmobileone.deploy.backends import backend_names, get_backend
from mmmobileone.deploy.backends.onnx import OnnxSession
from mmmobileone.deploy.export import check_input, export_config
from mmmobileone.deploy.outputs import tensor_model
from mmmobileone.deploy.parity import FLOAT_TOLERANCE
from mmmobileone.errors import ConfigError
from tools.deployment.export import main

CONFIG = os.path.join(ROOT, 'configs/mobileone_s0_imagenet.py')
SHAPE = ['--shape', '64', '64']
LINE = re.compile(r'^logits max_abs_diff=(\S+) rel=(\S+)$', re.M)
#: The printed difference may be this many times PyTorch's float32 distance from float64
#: (measured: 1.2x ONNX Runtime, 1.3x ncnn, for S0 at 64 px, default ISA and AVX2 alike).
ROUNDING_FACTOR = 4


@pytest.fixture(scope='module')
def training_checkpoint(tmp_path_factory):
    """An unfused (training) S0 checkpoint with calibrated random BatchNorm statistics."""
    torch.manual_seed(0)
    model = randomize_bn(init_model(CONFIG, None, fuse=False), seed=3,
                         calibrate_shape=(2, 3, 64, 64))
    path = str(tmp_path_factory.mktemp('ckpt') / 'mobileone_s0_train.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def _recompute(backend, checkpoint, paths):
    """Logits of the written file, of the fused PyTorch model and of its float64 copy on the
    input the export tool checks with (``mmmobileone.deploy.export.check_input``)."""
    wrapper = tensor_model(init_model(CONFIG, checkpoint, fuse=True), 'classification')
    inputs = check_input(*map(int, SHAPE[1:]))
    runtime, = get_backend(backend).load(paths).run([inputs.numpy()])
    with torch.no_grad():
        torch32 = wrapper(inputs).numpy()
        torch64 = wrapper.double()(inputs.double()).numpy()
    return np.asarray(runtime, np.float64), torch32.astype(np.float64), torch64


@pytest.mark.slow
@pytest.mark.parametrize('backend', backend_params('onnx', 'ncnn', run=True))
def test_exports_the_fused_network_and_prints_parity(backend, training_checkpoint, tmp_path,
                                                     capsys):
    out_dir = tmp_path / 'out'
    assert main([CONFIG, training_checkpoint, '--backend', backend, '--out-dir',
                 str(out_dir), *SHAPE]) == 0
    printed = capsys.readouterr().out
    (diff, rel), = LINE.findall(printed)
    files = sorted(os.listdir(out_dir))
    # the printed difference is the one between the written file and PyTorch on the tool's
    # check input, and it is float32 rounding: below the tool's tolerance and within a few
    # times PyTorch's own float32 distance from the float64 result
    paths = [str(out_dir / f) for f in files]
    runtime, torch32, torch64 = _recompute(backend, training_checkpoint, paths)
    recomputed = float(np.abs(runtime - torch32).max())
    largest = float(np.abs(torch32).max())
    assert float(diff) == pytest.approx(recomputed, rel=5e-3)  # printed with 3 digits
    assert float(rel) == pytest.approx(recomputed / largest, rel=5e-3)
    assert float(rel) < FLOAT_TOLERANCE
    torch32_error = float(np.abs(torch32 - torch64).max())
    assert float(diff) <= ROUNDING_FACTOR * torch32_error
    if backend == 'onnx':
        import onnx  # installed: the onnx backend is available
        assert files == ['mobileone_s0_imagenet.onnx']
        # fused: one Conv per unit, no BatchNormalization
        ops = {n.op_type for n in onnx.load(str(out_dir / files[0])).graph.node}
        assert 'Conv' in ops and 'BatchNormalization' not in ops
    else:
        assert files == ['mobileone_s0_imagenet.ncnn.bin', 'mobileone_s0_imagenet.ncnn.param']
        assert 'BatchNorm' not in (out_dir / files[1]).read_text()


@pytest.mark.slow
@needs_backend('coreml')
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
    assert "invalid choice: 'tensorrt'" in error and all(b in error for b in backend_names())
    with pytest.raises(ConfigError, match='supported backends: onnx, executorch, litert, ncnn, '
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


@needs_backend('onnx', run=True)
def test_failed_parity_exits_1_and_leaves_no_file(training_checkpoint, tmp_path, monkeypatch,
                                                  capsys, caplog):
    run = OnnxSession.run
    monkeypatch.setattr(OnnxSession, 'run',
                        lambda self, inputs: [out * 1.001 for out in run(self, inputs)])
    assert main([CONFIG, training_checkpoint, '--backend', 'onnx', '--out-dir', str(tmp_path),
                 *SHAPE]) == 1
    (_, rel), = LINE.findall(capsys.readouterr().out)
    assert float(rel) == pytest.approx(1e-3, rel=0.01)
    assert 'differs from PyTorch' in caplog.text
    assert os.listdir(tmp_path) == []
