"""Datasets: checks of dataset configs and generators of small synthetic datasets.

Nothing here imports a host library (mmpretrain, mmdet, mmseg); dataset classes that need one
live in :mod:`mmmobileone.integrations`.
"""
from .coco_format import validate_coco_file
from .preflight import (DATA_DOCS, check_coco_datasets, check_dataset_paths, check_user_data,
                        iter_dataset_cfgs)

__all__ = [
    'DATA_DOCS', 'check_coco_datasets', 'check_dataset_paths', 'check_user_data',
    'iter_dataset_cfgs', 'validate_coco_file'
]
