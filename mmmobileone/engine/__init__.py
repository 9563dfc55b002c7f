"""Engine components registered into mmmobileone's HOOKS registry."""
from .hooks import ReparamHook

__all__ = ['ReparamHook']
