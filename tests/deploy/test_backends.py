"""Phone / edge runtimes reproduce the fused PyTorch networks (issue 12).

The shipped configs (S0 classifier, SSDLite-mu1 quickstart detector, DeepLabV3-S0 VOC
segmentor) are built with random weights and BatchNorm statistics calibrated on random images
(activations O(1), as in a trained network), fused, exported with each backend at a small input
size, and run by the runtime on a different random input than the one used for export. Core ML
cannot predict on Linux: its package is converted and checked for names and shapes.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, randomize_bn
from deploy_marks import backend_params, needs_backend

from mmmobileone.apis import init_model
from mmmobileone.deploy.backends import (DEPLOY_EXTRA, MissingPackageError, RuntimeUnavailableError,
                                         get_backend)
from mmmobileone.deploy.backends._common import require
from mmmobileone.deploy.backends.coreml import describe
from mmmobileone.deploy.export import export_network
from mmmobileone.deploy.outputs import as_tuple, output_names, tensor_model
from mmmobileone.deploy.parity import FLOAT_TOLERANCE, compare_outputs, worst_relative
from mmmobileone.errors import BackendError, ConfigError
from mmmobileone.models import reparameterize_model

#: name -> (config, input size); small sizes keep the suite fast
MODELS = {
    'classifier': ('configs/mobileone_s0_imagenet.py', 64),
    'detector': ('configs/quickstart/ssdlite_mobileone_mu1_synthetic.py', 128),
    'segmentor': ('configs/deeplabv3_mobileone_s0_voc.py', 64),
}
FILES = {'onnx': ['model.onnx'], 'executorch': ['model.pte'], 'litert': ['model.tflite'],
         'ncnn': ['model.ncnn.bin', 'model.ncnn.param'], 'coreml': ['model.mlpackage']}


class Fused:
    """A fused network of a shipped config, with its export and check inputs."""

    def __init__(self, name: str) -> None:
        config, size = MODELS[name]
        torch.manual_seed(0)
        model = init_model(os.path.join(ROOT, config), None, fuse=False)
        randomize_bn(model, seed=1, calibrate_shape=(2, 3, size, size))
        self.config = os.path.join(ROOT, config)
        self.training_state = {k: v.clone() for k, v in model.state_dict().items()}
        self.model = reparameterize_model(model.eval())
        self.size = size
        self.wrapper = tensor_model(self.model)
        self.example = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        self.check_input = torch.randn(1, 3, size, size,
                                       generator=torch.Generator().manual_seed(1))
        self.names = list(output_names(self.wrapper, self.example))
        with torch.no_grad():
            self.expected = [t.numpy() for t in as_tuple(self.wrapper(self.check_input))]


@pytest.fixture(scope='module')
def fused():
    cache = {}

    def get(name: str) -> Fused:
        if name not in cache:
            cache[name] = Fused(name)
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize('model', list(MODELS))
@pytest.mark.parametrize('backend', backend_params('onnx', 'executorch', 'ncnn', run=True))
def test_runtime_reproduces_fused_pytorch(backend, model, fused, tmp_path):
    net = fused(model)
    report = export_network(net.model, backend, str(tmp_path), shape=(net.size, net.size))
    # only the model files, no staging folder or intermediate files of the converter
    assert sorted(os.listdir(tmp_path)) == FILES[backend]
    assert sorted(os.path.basename(p) for p in report.paths) == FILES[backend]
    assert [r.name for r in report.parity] == net.names
    assert [r.shape for r in report.parity] == [e.shape for e in net.expected]
    assert report.worst_relative < FLOAT_TOLERANCE, [r.line() for r in report.parity]
    # the written files load once into a session that runs again and again, identically
    session = get_backend(backend).load(report.paths)
    for _ in range(2):
        actual = session.run([net.check_input.numpy()])
        assert worst_relative(compare_outputs(net.expected, actual, net.names)) < FLOAT_TOLERANCE


@pytest.mark.slow
@needs_backend('litert', run=True)
@pytest.mark.parametrize('model', list(MODELS))
def test_litert_reproduces_fused_pytorch_through_the_tool(model, fused, tmp_path):
    """litert-torch imports jax, which warns that forking afterwards (DataLoader workers in
    later tests) may deadlock: the conversion runs in the tool's own process, from a training
    checkpoint (fused by the tool); the LiteRT interpreter (no jax) runs here again."""
    net = fused(model)
    checkpoint = str(tmp_path / 'train.pth')
    torch.save(dict(state_dict=net.training_state), checkpoint)
    out_dir = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools/deployment/export.py'), net.config,
         checkpoint, '--backend', 'litert', '--out-dir', str(out_dir), '--shape',
         str(net.size), str(net.size), '--name', 'model'], capture_output=True, text=True,
        cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = re.findall(r'^(\S+) max_abs_diff=(\S+) rel=(\S+)$', result.stdout, re.M)
    assert [name for name, _, _ in lines] == net.names
    assert max(float(rel) for _, _, rel in lines) < FLOAT_TOLERANCE, lines
    assert sorted(os.listdir(out_dir)) == FILES['litert']
    session = get_backend('litert').load([str(out_dir / 'model.tflite')])
    actual = session.run([net.check_input.numpy()])
    assert worst_relative(compare_outputs(net.expected, actual, net.names)) < FLOAT_TOLERANCE


@pytest.mark.slow
@needs_backend('coreml')
@pytest.mark.parametrize('model', list(MODELS))
def test_coreml_converts_with_names_and_shapes(model, fused, tmp_path):
    net = fused(model)
    coreml = get_backend('coreml')
    paths = coreml.export(net.wrapper, net.example, str(tmp_path), output_names=net.names)
    assert sorted(os.listdir(tmp_path)) == FILES['coreml']
    coreml.check(paths, net.example.shape, net.expected, net.names)
    inputs, outputs = describe(paths)
    assert inputs == {'input': tuple(net.example.shape)}
    assert outputs == {n: tuple(e.shape) for n, e in zip(net.names, net.expected)}
    with pytest.raises(BackendError, match='outputs'):
        coreml.check(paths, net.example.shape, net.expected, [n + '_x' for n in net.names])
    state = coreml.available()
    assert state.can_export and state.can_run == (sys.platform == 'darwin')
    if not state.can_run:
        assert 'macOS' in state.reason
        with pytest.raises(RuntimeUnavailableError, match='macOS'):
            coreml.load(paths)


def test_missing_runtime_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'executorch.exir', None)  # import now raises ImportError
    with pytest.raises(MissingPackageError, match=r'executorch.*pip install -e "\.\[deploy\]"'):
        get_backend('executorch').export(torch.nn.Identity(), torch.zeros(1, 3, 8, 8),
                                         str(tmp_path))
    error = pytest.raises(ImportError, require, 'no_such_module_xyz', 'no-such-package', 'x')
    assert DEPLOY_EXTRA in str(error.value) and isinstance(error.value, BackendError)
    assert os.listdir(tmp_path) == []
    # available() looks the packages up without importing them and names the missing one
    monkeypatch.setitem(sys.modules, 'litert_torch', None)
    state = get_backend('litert').available()
    assert not state and not state.can_export and not state.can_run
    assert "'litert-torch'" in state.reason and DEPLOY_EXTRA in state.reason


@needs_backend('ncnn')
def test_failed_conversion_leaves_nothing(monkeypatch, tmp_path):
    net = torch.nn.Conv2d(3, 4, 3).eval()
    ncnn = get_backend('ncnn')
    with pytest.raises(ConfigError, match='batch'):
        ncnn.export(net, torch.zeros(2, 3, 16, 16), str(tmp_path))
    import pnnx
    monkeypatch.setattr(pnnx, 'EXEC_PATH', '/bin/false')  # the converter fails
    with pytest.raises(BackendError, match='pnnx failed'):
        ncnn.export(net, torch.zeros(1, 3, 16, 16), str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_backends_refuse_options_they_do_not_have(tmp_path):
    with pytest.raises(BackendError, match="'ncnn' backend has no export options.*opset"):
        get_backend('ncnn').export(torch.nn.Identity(), torch.zeros(1, 3, 8, 8),
                                   str(tmp_path), opset=17)


def test_parity_reports_each_output():
    expected = [np.ones((1, 3)), np.full((1, 2, 2, 2), 10.0)]
    actual = [np.ones((1, 3)) + 1e-3, np.full((1, 2, 2, 2), 10.0)]
    results = compare_outputs(expected, actual, ['a', 'b'])
    assert results[0].line() == 'a max_abs_diff=0.001 rel=0.001'
    assert results[1].relative == 0.0 and worst_relative(results) == pytest.approx(1e-3)
    with pytest.raises(BackendError, match="output 'b'"):
        compare_outputs(expected, [actual[0], np.zeros((1, 2, 2))], ['a', 'b'])
    with pytest.raises(BackendError, match='2 outputs'):
        compare_outputs(expected[:1], actual, ['a'])
