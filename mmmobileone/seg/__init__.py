"""Deprecated: use :mod:`mmmobileone.integrations.mmseg`.

This path keeps existing configs working.
"""
import warnings

from ..integrations.mmseg import *  # noqa: F401,F403
from ..integrations.mmseg import __all__  # noqa: F401

warnings.warn("custom_imports 'mmmobileone.seg' is deprecated: import "
              "'mmmobileone.integrations.mmseg' instead", DeprecationWarning, stacklevel=2)
