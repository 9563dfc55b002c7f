"""Backbones."""
from .arch import ARCH_SETTINGS, resolve_arch
from .mobileone import MobileOne

__all__ = ['ARCH_SETTINGS', 'MobileOne', 'resolve_arch']
