"""mmengine checkpoints under torch's weights-only loading (mmengine issue 1655)."""
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

import mmmobileone  # noqa: F401  (applies the fix)
from mmmobileone.compat import OPT_OUT_ENV, mmengine_checkpoint_types, needs_mmengine_allowlist
from mmmobileone.fileio import load_checkpoint as load_weights_only


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=(out - torch.stack(data_samples)).pow(2).mean())
        return out


class ToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        x = torch.tensor([float(index), 1.0])
        return dict(inputs=x, data_samples=x.sum(0, keepdim=True))


def make_runner(work_dir, max_epochs, **kwargs):
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0), experiment_name=f'toy{max_epochs}', **kwargs)


def test_real_runner_checkpoint_resumes_and_loads(tmp_path):
    first = make_runner(tmp_path, max_epochs=1)
    first.train()
    path = tmp_path / 'epoch_1.pth'
    assert path.is_file()
    # the plain weights-only load that mmengine performs under torch >= 2.6
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['epoch'] == 1
    assert 'message_hub' in checkpoint

    resumed = make_runner(tmp_path, max_epochs=2, resume=True, load_from=str(path))
    resumed.train()
    assert resumed.epoch == 2
    # the resumed run started from the saved state: its message hub went on from epoch 1
    assert resumed.message_hub.get_info('epoch') == 1

    model = ToyModel()
    load_checkpoint(model, str(path), map_location='cpu', strict=True)
    expected = checkpoint['state_dict']['linear.weight']
    assert torch.equal(model.linear.weight.detach(), expected)


class _Exploit:
    marker = None

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': exploit}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(ToyModel(), str(path), map_location='cpu')
    assert not marker.exists()


class _GetattrEscape:
    """Pickles as getattr(HistoryBuffer, '__init__'), one step towards arbitrary attributes."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_in_a_pickle_reaches_only_history_buffer_statistics(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer
    path = tmp_path / 'escape.pth'
    torch.save({'state_dict': {}, 'payload': _GetattrEscape()}, path)
    with pytest.raises((pickle.UnpicklingError, AttributeError), match='not allowed'):
        torch.load(path, weights_only=True)
    buffer = HistoryBuffer()
    buffer.update(3.0)
    good = tmp_path / 'buffer.pth'
    torch.save({'buffer': buffer}, good)
    assert torch.load(good, weights_only=True)['buffer'].mean() == 3.0


def test_our_scoped_loads_keep_the_process_wide_allowlist(tmp_path):
    """torch's safe_globals() removes on exit what it added: our loads must not take away what
    import mmmobileone allowlisted, or mmengine's next resume fails."""
    make_runner(tmp_path, max_epochs=1).train()
    path = str(tmp_path / 'epoch_1.pth')
    before = set(torch.serialization.get_safe_globals())
    assert before >= set(mmengine_checkpoint_types())
    assert load_weights_only(path)['meta']['epoch'] == 1
    assert set(torch.serialization.get_safe_globals()) == before
    assert torch.load(path, map_location='cpu', weights_only=True)['meta']['epoch'] == 1


@pytest.mark.parametrize('torch_version,mmengine_version,expected', [
    ('2.11.0+cu130', '0.10.7', True), ('2.6.0', '0.10.7', True), ('2.5.1', '0.10.7', False),
    ('2.11.0', '0.10.8', False), ('2.11.0', '1.0.0', False)])
def test_allowlist_only_for_the_versions_that_need_it(torch_version, mmengine_version,
                                                      expected):
    assert needs_mmengine_allowlist(torch_version, mmengine_version) is expected


@pytest.mark.slow
def test_opt_out_keeps_the_process_allowlist_empty_and_our_loads_working(tmp_path):
    make_runner(tmp_path, max_epochs=1).train()
    script = (
        'import sys, torch, mmmobileone\n'
        'from mmmobileone.fileio import load_checkpoint\n'
        'from mmmobileone.compat import mmengine_checkpoint_types as types\n'
        'print(sum(t in torch.serialization.get_safe_globals() for t in types()))\n'
        'print(load_checkpoint(sys.argv[1])["meta"]["epoch"])\n'
        'try:\n'
        '    torch.load(sys.argv[1], weights_only=True)\n'
        'except Exception as error:\n'
        '    print(type(error).__name__)\n')
    env = dict(os.environ, **{OPT_OUT_ENV: '1'})
    result = subprocess.run([sys.executable, '-c', script, str(tmp_path / 'epoch_1.pth')],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    # nothing allowlisted process-wide; our own load still works; a plain load is refused
    assert result.stdout.split() == ['0', '1', 'UnpicklingError']


def _numpy1_checkpoint(path) -> None:
    """A checkpoint as numpy 1.x pickles it: its arrays name ``numpy.core.multiarray``."""
    buffer = io.BytesIO()
    torch.save({'meta': {'seed': np.int64(7), 'hist': np.arange(3.0)},
                'state_dict': {'w': torch.ones(2)}}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith('data.pkl'):
                data = data.replace(np.ndarray.__reduce__(np.zeros(1))[0].__module__.encode(),
                                    b'numpy.core.multiarray')
                assert b'numpy.core.multiarray' in data
            target.writestr(info.filename, data)


def test_checkpoints_written_under_numpy1_load_under_numpy2(tmp_path):
    """numpy 2 renamed numpy.core to numpy._core; weights-only loading matches globals by the
    pickled name, so without the alias every checkpoint saved under numpy 1 is refused."""
    path = str(tmp_path / 'numpy1.pth')
    _numpy1_checkpoint(path)
    for loaded in (load_weights_only(path), torch.load(path, weights_only=True)):
        assert loaded['meta']['seed'] == 7
        np.testing.assert_array_equal(loaded['meta']['hist'], [0.0, 1.0, 2.0])
