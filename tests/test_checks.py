"""Early checks of dataset paths: the hint names a key that --cfg-options accepts."""
import re

import pytest
from mmengine.config import Config

from mmmobileone.datasets import check_dataset_paths, iter_dataset_cfgs


def concat_config(existing: str, missing: str) -> Config:
    return Config(dict(train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[
            dict(type='A', data_root=existing),
            dict(type='RepeatDataset', times=2, dataset=dict(type='B', data_root=missing)),
        ]))))


def test_walker_yields_dotted_keys_through_wrappers(tmp_path):
    cfg = concat_config(str(tmp_path), str(tmp_path / 'nope'))
    walk = iter_dataset_cfgs(cfg.train_dataloader.dataset, 'train_dataloader.dataset')
    keys = [key for key, _ in walk]
    assert keys == ['train_dataloader.dataset.datasets.0',
                    'train_dataloader.dataset.datasets.1.dataset']


def test_missing_folder_hint_is_a_valid_cfg_options_key(tmp_path):
    missing = str(tmp_path / 'nope')
    cfg = concat_config(str(tmp_path), missing)
    with pytest.raises(FileNotFoundError, match=re.escape(repr(missing))) as error:
        check_dataset_paths(cfg, ('train', ))
    key = re.search(r'--cfg-options (\S+)=PATH', str(error.value)).group(1)
    assert key == 'train_dataloader.dataset.datasets.1.dataset.data_root'
    cfg.merge_from_dict({key: str(tmp_path)})  # the hint, applied as the user would
    check_dataset_paths(cfg, ('train', ))


def test_atomic_save_leaves_nothing_behind_on_failure(tmp_path):
    import pickle

    import torch

    from mmmobileone.fileio import save_checkpoint_atomic
    path = tmp_path / 'out.pth'
    save_checkpoint_atomic({'state_dict': {'w': torch.ones(2)}}, str(path))
    # pickle reports an unpicklable local function as PicklingError or AttributeError
    with pytest.raises((pickle.PicklingError, AttributeError), match="an't pickle.*lambda"):
        save_checkpoint_atomic({'state_dict': {'bad': lambda: None}}, str(path))  # unpicklable
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.pth']
    assert torch.equal(torch.load(path, weights_only=True)['state_dict']['w'], torch.ones(2))
