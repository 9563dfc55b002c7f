"""Deprecated: use :mod:`mmmobileone.integrations.mmdet`.

This path keeps existing configs working.
"""
import warnings

from ..integrations.mmdet import *  # noqa: F401,F403
from ..integrations.mmdet import __all__  # noqa: F401

warnings.warn("custom_imports 'mmmobileone.det' is deprecated: import "
              "'mmmobileone.integrations.mmdet' instead", DeprecationWarning, stacklevel=2)
