"""mmmobileone: MobileOne for mmpretrain, mmdet and mmsegmentation.

Importing the package creates its registries, registers the backbone and the hooks, and applies
the compatibility fixes listed in :mod:`mmmobileone.utils.compat` (for example mmengine
checkpoints under ``torch.load(weights_only=True)``). It does not import mmdet or mmseg.
"""
from .utils.compat import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()

from .engine import ReparamHook  # noqa: E402
from .models import (MobileOne, MobileOneUnit, count_params_and_macs,  # noqa: E402
                     reparameterize_model)

__all__ = [
    '__version__', 'MobileOne', 'MobileOneUnit', 'ReparamHook', 'count_params_and_macs',
    'reparameterize_model'
]
