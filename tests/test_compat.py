"""mmengine checkpoints under torch's weights-only loading (mmengine issue 1655)."""
import os
import pickle

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

import mmmobileone  # noqa: F401  (applies the fix)


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
    assert resumed.message_hub.get_info('epoch') == 1 or resumed.epoch == 2

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
