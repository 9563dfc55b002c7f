"""Pre-flight checks of the datasets a config names, before the Runner starts.

:func:`iter_dataset_cfgs` finds every leaf dataset of a dataloader (through dataset wrappers);
:func:`check_dataset_paths` stops at the first dataset path that is not there,
:func:`check_user_data` at the first annotation file, split file or image folder that cannot be
used (naming the file and the config entry). What a COCO-format file must hold is
:mod:`mmmobileone.datasets.coco_format`; nothing in the config is changed.
"""
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config

from ..errors import DataError, MissingPathError
from .coco_format import load_json_file, validate_coco_file

logger = logging.getLogger('mmmobileone.datasets')

DATA_DOCS = 'README.md, section "Datasets"'

#: COCO files larger than this (COCO's own instances files: 450 MiB) are not validated before
#: training (parsing them twice would cost tens of seconds and gigabytes).
MAX_VALIDATED_BYTES = 100 * 2**20
#: Types of dataset configs whose annotation files :func:`check_coco_datasets` validates.
COCO_DATASET_TYPES = ('CocoDataset', 'mmdet.CocoDataset', 'mmmobileone.CocoDataset')


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


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def coco_dataset_files(dataset: Dict) -> Tuple[Optional[str], Optional[str]]:
    """``(ann_file, image_root)`` of an mmdet ``CocoDataset`` config, as the dataset joins them."""
    root = dataset.get('data_root') or ''
    ann_file = dataset.get('ann_file')
    prefix = dataset.get('data_prefix') or {}
    image_dir = prefix.get('img', prefix.get('img_path', '')) if isinstance(prefix, dict) else ''
    return (_join(root, ann_file) if isinstance(ann_file, str) and ann_file else None,
            _join(root, image_dir or ''))


def _coco_evaluators(cfg, split: str) -> Iterator[Dict]:
    evaluators = cfg.get(f'{split}_evaluator')
    for evaluator in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if isinstance(evaluator, dict) and str(evaluator.get('type', '')).endswith('CocoMetric'):
            yield evaluator


def check_coco_datasets(cfg, splits=('train', 'val', 'test'), logger=None) -> int:
    """Validate the annotation files of the COCO datasets and metrics of ``splits``.

    Looks at every ``CocoDataset`` leaf of ``{split}_dataloader.dataset`` (through dataset
    wrappers, :func:`iter_dataset_cfgs`) with its image folder, and at the ``ann_file`` of each
    ``CocoMetric`` of ``{split}_evaluator``. Each file is read once.

    Returns:
        The number of files checked.

    Raises:
        DataError: Naming the file and the indices of what is wrong (all errors of the first
            invalid file), or an empty or non-JSON file.
    """
    checked: Dict[str, Optional[str]] = OrderedDict()
    unwarned = set()
    classes: Dict[str, Tuple[str, ...]] = {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            for _, dataset in iter_dataset_cfgs(loader.get('dataset'),
                                                f'{split}_dataloader.dataset'):
                if dataset.get('type') in COCO_DATASET_TYPES:
                    ann_file, image_root = coco_dataset_files(dataset)
                    if ann_file and checked.get(ann_file) is None:
                        checked[ann_file] = image_root
                    metainfo = dataset.get('metainfo') or {}
                    if ann_file and metainfo.get('classes'):
                        classes.setdefault(ann_file, tuple(metainfo['classes']))
                    if dataset.get('type') != 'mmmobileone.CocoDataset':
                        unwarned.add(ann_file)  # (ours warns when it loads the file)
        for evaluator in _coco_evaluators(cfg, split):
            ann_file = evaluator.get('ann_file')
            if isinstance(ann_file, str) and ann_file:
                checked.setdefault(ann_file, None)
    for ann_file, image_root in checked.items():
        if osp.isfile(ann_file) and os.stat(ann_file).st_size > MAX_VALIDATED_BYTES:
            _check_json_start(ann_file, 'annotation file')  # e.g. COCO's own: known good
            if logger is not None:
                logger.info(f'{ann_file}: over {MAX_VALIDATED_BYTES >> 20} MiB, not validated')
            continue
        problems = validate_coco_file(ann_file, image_root, classes.get(ann_file))
        problems.raise_errors()
        if logger is not None and problems.notes:
            logger.info(f'{ann_file}: reading it with the optional COCO entries it leaves out: '
                        f'{", ".join(problems.notes)}')
        if logger is not None and ann_file in unwarned:
            for warning in problems.warnings:
                logger.warning(warning)
    return len(checked)


def _first_file(folder: str) -> Optional[str]:
    for directory, _, files in os.walk(folder):
        for name in files:
            if not name.startswith('.'):
                return osp.join(directory, name)
    return None


#: JSON files up to this size are parsed by :func:`check_dataset_lists`; larger ones (COCO's
#: instances files) are checked by their first bytes and parsed by their dataset.
MAX_PARSED_BYTES = 20 * 2**20


def _check_json_start(path: str, what: str) -> None:
    if os.stat(path).st_size <= MAX_PARSED_BYTES:
        load_json_file(path, what)
        return
    with open(path, 'rb') as f:
        head = f.read(4096).lstrip(b'\xef\xbb\xbf \t\r\n')
    if head[:1] not in (b'{', b'['):
        raise DataError(f'{what} {path!r} is not valid JSON: it starts with {head[:20]!r}')


def check_dataset_lists(cfg, splits=('train', 'val', 'test')) -> None:
    """Every non-COCO dataset of ``splits`` lists at least one image, in a readable file.

    A split file (``ann_file`` ending ``.txt``, e.g. VOC's ``ImageSets/Segmentation/train.txt``
    or mmpretrain's ``meta/train.txt``) must hold a line; a ``.json`` one must be JSON; without an
    ``ann_file`` the image folder must hold a file. Otherwise the datasets fail late and
    obscurely (mmengine: ``need at least one array to concatenate``; mmpretrain: a
    ``RuntimeError`` traceback).

    Raises:
        DataError: Naming the file or folder and the config entry.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for where, dataset in iter_dataset_cfgs(loader.get('dataset'),
                                                f'{split}_dataloader.dataset'):
            if dataset.get('type') in COCO_DATASET_TYPES:
                continue  # validate_coco_file
            root = dataset.get('data_root') or ''
            ann_file = dataset.get('ann_file')
            if isinstance(ann_file, str) and ann_file:
                path = _join(root, ann_file)
                if osp.isfile(path) and path.endswith('.json'):
                    _check_json_start(path, f'annotation file (from {where})')
                elif osp.isfile(path) and path.endswith('.txt'):
                    with open(path, 'rb') as f:
                        if not any(line.strip() for line in f):
                            raise DataError(f'split file {path!r} (from {where}.ann_file) lists '
                                            f'no images: it is empty')
                continue
            prefix = dataset.get('data_prefix')
            if isinstance(prefix, dict):
                prefix = prefix.get('img_path', prefix.get('img'))
            folder = _join(root, prefix) if isinstance(prefix, str) and prefix else root
            if folder and osp.isdir(folder) and _first_file(folder) is None:
                raise DataError(f'image folder {folder!r} (from {where}) holds no files: no '
                                f'image to train or test on')


def check_user_data(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """What the tools check of users' data before the Runner starts (after the paths).

    Every COCO-format annotation file of ``splits`` (datasets and metrics) is validated by file
    and index (:func:`check_coco_datasets`), every other dataset must list an image
    (:func:`check_dataset_lists`). Nothing in the config is changed: the checked data classes
    are declared by the configs themselves (``configs/_base_/runtime_safeguards.py``).

    Raises:
        DataError: For an empty, non-JSON or invalid annotation file, an empty split file or
            image folder (naming it).
    """
    check_coco_datasets(cfg, splits, logger=logger)
    check_dataset_lists(cfg, splits)
