"""mmpretrain glue: progressive learning and scaled AutoAugment; it imports mmpretrain.

Configs load it through ``custom_imports = dict(imports=['mmmobileone',
'mmmobileone.integrations.mmpretrain'], ...)``.
"""
from .progressive_hook import ProgressiveLearningHook, find_train_transforms
from .transforms import ScaledAutoAugment, scale_policy

__all__ = [
    'ProgressiveLearningHook', 'ScaledAutoAugment', 'find_train_transforms', 'scale_policy'
]
