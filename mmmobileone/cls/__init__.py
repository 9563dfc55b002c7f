"""Classification glue for mmpretrain: progressive learning and scaled AutoAugment.

This package imports mmpretrain. Configs load it through
``custom_imports = dict(imports=['mmmobileone', 'mmmobileone.cls'], ...)``; ``import mmmobileone``
never imports it.
"""
from .progressive import ProgressiveLearningHook, find_train_transforms
from .transforms import ScaledAutoAugment, scale_policy

__all__ = [
    'ProgressiveLearningHook', 'ScaledAutoAugment', 'find_train_transforms', 'scale_policy'
]
