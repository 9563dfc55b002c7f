"""Segmentation glue for mmseg: import it (``custom_imports``) in segmentation configs.

Registers :class:`COCOVOCDataset` (COCO instances as VOC's 21 classes) and its
:class:`LoadCOCOVOCAnnotations` transform. Importing this package imports mmseg and pycocotools;
:mod:`mmmobileone` itself does not.
"""
from .coco_voc import COCO_TO_VOC, COCOVOCDataset, LoadCOCOVOCAnnotations, rasterize_instances

__all__ = ['COCO_TO_VOC', 'COCOVOCDataset', 'LoadCOCOVOCAnnotations', 'rasterize_instances']
