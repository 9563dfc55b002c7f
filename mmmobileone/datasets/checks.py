"""Early, clear errors about datasets in configs, before the Runner starts."""
import os
import os.path as osp
from typing import Dict, Iterator, List, Tuple

from mmengine.config import Config

from ..errors import MissingPathError

DATA_DOCS = 'README.md, section "Datasets"'


def iter_dataset_cfgs(cfg, where: str) -> Iterator[Tuple[str, Dict]]:
    """Yield ``(key, dataset_cfg)`` for each leaf dataset, looking through dataset wrappers.

    ``key`` is the dotted path that ``--cfg-options`` accepts, e.g.
    ``train_dataloader.dataset.datasets.1`` for the second dataset of a ``ConcatDataset``.
    """
    if cfg is None:
        return
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from iter_dataset_cfgs(item, f'{where}.{i}')
    elif 'datasets' in cfg:
        yield from iter_dataset_cfgs(cfg['datasets'], f'{where}.datasets')
    elif 'dataset' in cfg:
        yield from iter_dataset_cfgs(cfg['dataset'], f'{where}.dataset')
    else:
        yield where, cfg


def _expected_paths(dataset: Dict) -> List[str]:
    root = dataset.get('data_root') or ''
    paths = []
    if root:
        paths.append(root)
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file:
        paths.append(ann_file if osp.isabs(ann_file) or not root else osp.join(root, ann_file))
    prefix = dataset.get('data_prefix')
    if isinstance(prefix, dict):
        for value in prefix.values():
            if isinstance(value, str) and value:
                paths.append(value if osp.isabs(value) or not root else osp.join(root, value))
    elif isinstance(prefix, str) and prefix:
        paths.append(prefix if osp.isabs(prefix) or not root else osp.join(root, prefix))
    return paths


def check_dataset_paths(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """Raise :class:`~mmmobileone.errors.MissingPathError` for the first missing dataset path.

    Looks at ``{split}_dataloader.dataset`` (through RepeatDataset / ConcatDataset wrappers) for
    each split in ``splits``; paths are relative to the working directory, as in the
    OpenMMLab libraries.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        datasets = iter_dataset_cfgs(loader.get('dataset'), f'{split}_dataloader.dataset')
        for where, dataset in datasets:
            for path in _expected_paths(dataset):
                if not osp.exists(path):
                    raise MissingPathError(
                        f'dataset path {path!r} not found (from {where}, dataset type '
                        f"{dataset.get('type')!r}; working directory {os.getcwd()!r}). Put the "
                        f'data there, or point the config at it with --cfg-options '
                        f'{where}.data_root=PATH; expected layouts: {DATA_DOCS}')


def check_user_data(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """What the tools check of users' data before the Runner starts (after the paths).

    Every COCO-format annotation file of ``splits`` (datasets and metrics) is validated by file
    and index (:func:`~mmmobileone.datasets.validate.check_coco_datasets`), every other dataset
    must list an image (:func:`~mmmobileone.datasets.validate.check_dataset_lists`). Nothing in
    the config is changed: the checked data classes are declared by the configs themselves
    (``configs/_base_/runtime_safeguards.py``).

    Raises:
        DataError: For an empty, non-JSON or invalid annotation file, an empty split file or
            image folder (naming it).
    """
    import logging

    from .validate import check_coco_datasets, check_dataset_lists
    check_coco_datasets(cfg, splits, logger=logging.getLogger('mmmobileone.datasets'))
    check_dataset_lists(cfg, splits)
