"""mmseg glue: import it (``custom_imports``) in segmentation configs; it imports mmseg.

Registers :class:`COCOVOCDataset` (COCO instances as VOC's 21 classes) and its
:class:`LoadCOCOVOCAnnotations` transform (needs pycocotools).
"""
from .coco_voc import COCO_TO_VOC, COCOVOCDataset, LoadCOCOVOCAnnotations, rasterize_instances

__all__ = ['COCO_TO_VOC', 'COCOVOCDataset', 'LoadCOCOVOCAnnotations', 'rasterize_instances']
