"""Models: the MobileOne backbone, its unit, and the fused form (:mod:`.reparam`)."""
from .backbones import ARCH_SETTINGS, MobileOne, resolve_arch
from .layers import MobileOneUnit
from .reparam import needs_fusion, reparameterize_model

__all__ = [
    'ARCH_SETTINGS', 'MobileOne', 'MobileOneUnit', 'needs_fusion', 'reparameterize_model',
    'resolve_arch'
]
