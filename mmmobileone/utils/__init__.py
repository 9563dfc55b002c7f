"""Utilities."""
from .checks import (check_dataset_paths, checkpoint_is_fused, iter_dataset_cfgs,
                     load_checkpoint_file)
from .compat import allow_mmengine_checkpoint_types

__all__ = [
    'allow_mmengine_checkpoint_types', 'check_dataset_paths', 'checkpoint_is_fused',
    'iter_dataset_cfgs', 'load_checkpoint_file'
]
