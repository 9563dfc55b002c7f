"""mmdet glue: import it (``custom_imports``) in detection configs; it imports mmdet.

Registers :class:`FixedSSDHead`, mmdet 3.3.0's ``SSDHead`` with the prediction crash fixed
(``SSDLiteHead`` is its deprecated name).
"""
from .ssd_head import FixedSSDHead, SSDLiteHead

__all__ = ['FixedSSDHead', 'SSDLiteHead']
