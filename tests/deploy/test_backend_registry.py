"""One interface and one registry for the runtime backends (issue 18, item 3): a sixth runtime
is one ``Backend`` subclass and one registration, and then the export tool, the parity check,
the INT8 runtime path and the latency timer all reach it through its session."""
import os
import re
from typing import List, Optional, Sequence

import numpy as np
import pytest
import torch
from conftest import ROOT
from torch import Tensor, nn

from mmmobileone.analysis.latency import runtime_forward
from mmmobileone.apis import init_model
from mmmobileone.deploy.backends import (Availability, Backend, Session, backend_names, get_backend,
                                         register_backend, unregister_backend)
from mmmobileone.deploy.backends._common import write_one
from mmmobileone.deploy.int8.runtime import runtime_runner
from mmmobileone.errors import BackendError, ConfigError
from tools.deployment.export import main

CONFIG = os.path.join(ROOT, 'configs/mobileone_s0_imagenet.py')
LINE = re.compile(r'^logits max_abs_diff=(\S+) rel=(\S+)$', re.M)


class TorchScriptSession(Session):
    """Runs a saved TorchScript module; counts its loads and runs."""
    loads = 0

    def __init__(self, path: str) -> None:
        type(self).loads += 1
        self.module = torch.jit.load(path)
        self.runs = 0

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        self.runs += 1
        with torch.no_grad():
            outputs = self.module(*[torch.from_numpy(np.asarray(x, np.float32)) for x in inputs])
        return [t.numpy() for t in (outputs if isinstance(outputs, tuple) else (outputs, ))]


class TorchScriptBackend(Backend):
    """A sixth runtime for the test: "exports" a traced TorchScript file, runs it with torch."""
    name = 'torchscript_test'
    suffixes = ('.ts', )

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        self.refuse_options(self.name, options)
        with torch.no_grad():
            traced = torch.jit.trace(module.eval(), (example, ), check_trace=False)
        return write_one(out_dir, name + '.ts', traced.save)

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> TorchScriptSession:
        return TorchScriptSession(self.pick(paths, '.ts'))


@pytest.fixture
def sixth_backend():
    register_backend(TorchScriptBackend)
    yield get_backend(TorchScriptBackend.name)
    unregister_backend(TorchScriptBackend.name)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('ckpt') / 's0_train.pth')
    torch.save(dict(state_dict=init_model(CONFIG, None, fuse=False).state_dict()), path)
    return path


def test_the_registry_lists_the_five_runtimes_in_the_docs_order():
    assert backend_names() == ['onnx', 'executorch', 'litert', 'ncnn', 'coreml']
    for name in backend_names():
        backend = get_backend(name)
        assert isinstance(backend, Backend) and backend.name == name
        state = backend.available()
        assert isinstance(state, Availability)
        assert bool(state) == (state.can_export and state.can_run)
        assert bool(state.reason) != bool(state)  # a reason exactly when something is missing


def test_a_registered_backend_exports_through_the_tool_with_parity(sixth_backend, checkpoint,
                                                                   tmp_path, capsys):
    TorchScriptSession.loads = 0
    out_dir = tmp_path / 'out'
    assert main([CONFIG, checkpoint, '--backend', sixth_backend.name, '--out-dir', str(out_dir),
                 '--shape', '64', '64', '--name', 's0']) == 0
    printed = capsys.readouterr().out
    assert os.listdir(out_dir) == ['s0.ts']
    assert f'wrote {out_dir / "s0.ts"}' in printed
    (diff, rel), = LINE.findall(printed)  # the parity check ran through the new session
    assert float(rel) < 1e-6
    assert TorchScriptSession.loads == 1
    # the INT8 runtime path and the latency timer reach the new runtime through its session
    example = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    logits, = runtime_runner(sixth_backend.name, [str(out_dir / 's0.ts')])(example)
    assert logits.shape == (1, 1000)
    forward = runtime_forward(sixth_backend.name, [str(out_dir / 's0.ts')],
                              torch.from_numpy(example))
    np.testing.assert_array_equal(forward()[0], logits)


def test_an_unregistered_backend_is_gone(sixth_backend, checkpoint, tmp_path, capsys):
    unregister_backend(sixth_backend.name)
    try:
        assert sixth_backend.name not in backend_names()
        with pytest.raises(SystemExit):  # argparse: not among the choices
            main([CONFIG, checkpoint, '--backend', sixth_backend.name, '--out-dir',
                  str(tmp_path)])
        assert 'invalid choice' in capsys.readouterr().err
        with pytest.raises(ConfigError, match=f"unknown backend '{sixth_backend.name}'; "
                           'supported backends: onnx, executorch'):
            get_backend(sixth_backend.name)
    finally:
        register_backend(TorchScriptBackend)  # for the fixture's teardown


def test_registration_refuses_a_taken_or_missing_name(sixth_backend):
    taken = type('OtherOnnx', (TorchScriptBackend, ), {'name': 'onnx'})
    with pytest.raises(ConfigError, match="'onnx' is already taken by OnnxBackend"):
        register_backend(taken)
    nameless = type('Nameless', (TorchScriptBackend, ), {'name': ''})
    with pytest.raises(ConfigError, match='Nameless has no backend name'):
        register_backend(nameless)
    with pytest.raises(ConfigError, match='unknown backend'):
        unregister_backend('no_such_runtime')
    with pytest.raises(BackendError, match="has no export options; got \\['opset'\\]"):
        sixth_backend.export(nn.Identity(), torch.zeros(1, 3, 4, 4), '.', opset=17)
    with pytest.raises(BackendError, match=r'needs a \.ts file'):
        sixth_backend.load(['model.onnx'])


def test_the_declaration_can_be_given_to_the_decorator():
    """``@register_backend(name=..., suffixes=..., packages=...)`` sets what the class declares
    (as the five shipped backends do); a missing package makes it unavailable, with the reason."""
    declared = register_backend(name='keyword_test', suffixes=['.kw'],
                                packages=[('no_such_module_kw', 'no-such-package-kw')])(
                                    type('KeywordBackend', (TorchScriptBackend, ), {}))
    try:
        backend = get_backend('keyword_test')
        assert type(backend) is declared
        assert (declared.name, declared.suffixes) == ('keyword_test', ('.kw', ))
        assert declared.packages == (('no_such_module_kw', 'no-such-package-kw'), )
        state = backend.available()
        assert not state.can_export and 'no-such-package-kw' in state.reason
    finally:
        unregister_backend('keyword_test')
    assert 'keyword_test' not in backend_names()
