"""Hooks."""
from .checkpoint_hook import SafeCheckpointHook, TrainingDivergedError
from .epoch_seed_hook import EpochSeedHook
from .finite_loss_hook import FiniteLossHook
from .pretrained_check_hook import PretrainedInitCheckHook
from .reparam_hook import ReparamHook

__all__ = [
    'ReparamHook', 'SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook',
    'PretrainedInitCheckHook', 'TrainingDivergedError'
]
