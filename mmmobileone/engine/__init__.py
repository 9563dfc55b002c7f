"""Engine components registered into mmmobileone's HOOKS registry."""
from .hooks import (EpochSeedHook, FiniteLossHook, ReparamHook, SafeCheckpointHook,
                    TrainingDivergedError)

__all__ = [
    'ReparamHook', 'SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook',
    'TrainingDivergedError'
]
