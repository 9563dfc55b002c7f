"""Models: the MobileOne backbone, its unit, and whole-model re-parameterization."""
from .backbones import ARCH_SETTINGS, MobileOne, resolve_arch
from .complexity import count_params_and_macs, fused_classifier_complexity, mobileone_classifier
from .layers import MobileOneUnit
from .reparam import reparameterize_model

__all__ = [
    'ARCH_SETTINGS', 'MobileOne', 'MobileOneUnit', 'count_params_and_macs',
    'fused_classifier_complexity', 'mobileone_classifier', 'reparameterize_model',
    'resolve_arch'
]
