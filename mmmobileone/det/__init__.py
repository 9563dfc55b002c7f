"""Detection glue for mmdet: import it (``custom_imports``) in detection configs.

Registers :class:`SSDLiteHead` (mmdet's ``SSDHead`` with the prediction crash fixed). Importing
this package imports mmdet; :mod:`mmmobileone` itself does not. The synthetic COCO generator
lives in :mod:`mmmobileone.det.synthetic` (numpy and OpenCV only).
"""
from .ssdlite_head import SSDLiteHead

__all__ = ['SSDLiteHead']
