"""mmmobileone: MobileOne for mmpretrain, mmdet and mmsegmentation.

Importing the package creates its registries, registers the backbone and the hooks, and applies
the compatibility fix of :mod:`mmmobileone.compat` where the installed versions need it
(mmengine checkpoints under ``torch.load(weights_only=True)``; opt out with
``MMMOBILEONE_NO_GLOBAL_ALLOWLIST=1``). It imports no host library (mmpretrain, mmdet, mmseg)
and no exporter.
"""
from .compat import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()

from .analysis.complexity import count_params_and_macs  # noqa: E402
from .engine import ReparamHook  # noqa: E402
from .models import MobileOne, MobileOneUnit, reparameterize_model  # noqa: E402

__all__ = [
    '__version__', 'MobileOne', 'MobileOneUnit', 'ReparamHook', 'count_params_and_macs',
    'reparameterize_model'
]
