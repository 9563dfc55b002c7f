"""Building blocks of MobileOne."""
from .mobileone_unit import MobileOneUnit
from .squeeze_excitation import SqueezeExcitation, make_divisible

__all__ = ['MobileOneUnit', 'SqueezeExcitation', 'make_divisible']
