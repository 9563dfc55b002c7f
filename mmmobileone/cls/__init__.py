"""Deprecated: use :mod:`mmmobileone.integrations.mmpretrain`.

This path keeps existing configs working.
"""
import warnings

from ..integrations.mmpretrain import *  # noqa: F401,F403
from ..integrations.mmpretrain import __all__  # noqa: F401

warnings.warn("custom_imports 'mmmobileone.cls' is deprecated: import "
              "'mmmobileone.integrations.mmpretrain' instead", DeprecationWarning, stacklevel=2)
