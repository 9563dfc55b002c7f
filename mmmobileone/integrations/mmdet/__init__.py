"""mmdet glue: import it (``custom_imports``) in detection configs; it imports mmdet.

Registers :class:`FixedSSDHead`, mmdet 3.3.0's ``SSDHead`` with the prediction crash fixed
(``SSDLiteHead`` is its deprecated name), and :class:`CocoDataset` / :class:`CocoMetric`,
mmdet's classes for the COCO-format files labelling tools write (:mod:`.coco`).
"""
from .coco import CocoDataset, CocoMetric, NormalizedCOCO
from .ssd_head import FixedSSDHead, SSDLiteHead

__all__ = ['CocoDataset', 'CocoMetric', 'FixedSSDHead', 'NormalizedCOCO', 'SSDLiteHead']
