"""Engine components: hooks registered into mmmobileone's HOOKS registry, and the functions the
tools call for what their flags ask (``distributed``, ``resume``, ``train_options``,
``test_options``) and for the safeguards hint (``safeguards``)."""
from .hooks import (EpochSeedHook, FiniteLossHook, PretrainedInitCheckHook, ReparamHook,
                    SafeCheckpointHook, TrainingDivergedError)

__all__ = [
    'ReparamHook', 'SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook',
    'PretrainedInitCheckHook', 'TrainingDivergedError'
]
