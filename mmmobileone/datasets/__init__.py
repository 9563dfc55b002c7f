"""Datasets: checks of dataset configs and generators of small synthetic datasets.

Nothing here imports a host library (mmpretrain, mmdet, mmseg); dataset classes that need one
live in :mod:`mmmobileone.integrations`.
"""
from .checks import DATA_DOCS, check_dataset_paths, iter_dataset_cfgs

__all__ = ['DATA_DOCS', 'check_dataset_paths', 'iter_dataset_cfgs']
