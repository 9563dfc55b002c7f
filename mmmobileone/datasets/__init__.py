"""Datasets: checks of dataset configs and generators of small synthetic datasets.

Nothing here imports a host library (mmpretrain, mmdet, mmseg); dataset classes that need one
live in :mod:`mmmobileone.integrations`.
"""
from .checks import DATA_DOCS, check_dataset_paths, check_user_data, iter_dataset_cfgs
from .validate import check_coco_datasets, validate_coco_file

__all__ = [
    'DATA_DOCS', 'check_coco_datasets', 'check_dataset_paths', 'check_user_data',
    'iter_dataset_cfgs', 'validate_coco_file'
]
