"""Synthetic datasets in the real on-disk formats, for the quickstart, demos and tests.

One generator per format; each writes exactly the layout the mmpretrain / mmdet / mmseg dataset
classes read, with ground truth known to the pixel:

* :func:`generate_coco` (:mod:`.coco`): COCO instances json, mmdet's or a flat layout
  (mmdet ``CocoDataset``);
* :func:`generate_imagenet` (:mod:`.imagenet`): ImageNet class folders with or without
  ``meta/`` (mmpretrain ``ImageNet``, ``CustomDataset``);
* :func:`generate_voc` (:mod:`.voc`): VOC2012 with SegmentationClassAug and ImageSets (mmseg
  ``PascalVOCDataset``);
* :func:`generate_coco_voc` (:mod:`.voc`): COCO instances with known VOC label maps
  (``mmmobileone``'s ``COCOVOCDataset``);
* :func:`generate_ade20k` (:mod:`.ade20k`): ADEChallengeData2016 (mmseg ``ADE20KDataset``,
  or ``BaseSegDataset`` for a small label set).

Every generator is deterministic given its arguments (``seed``), writes only into a missing or
empty folder or one it wrote before (a marker file records its files; ``overwrite=True``
replaces them), and logs what it wrote. The drawing is shared (:mod:`.shapes`). Only numpy,
Pillow, OpenCV and json are imported: no mmdet / mmseg / mmpretrain.
"""
from ._output import MARKER
from .ade20k import generate_ade20k
from .coco import COCO_CATEGORIES, SHAPE_CLASSES, coco_paths, generate_coco
from .imagenet import generate_imagenet
from .voc import VOC_PALETTE, generate_coco_voc, generate_voc

__all__ = [
    'MARKER', 'COCO_CATEGORIES', 'SHAPE_CLASSES', 'VOC_PALETTE', 'coco_paths', 'generate_ade20k',
    'generate_coco', 'generate_coco_voc', 'generate_imagenet', 'generate_voc'
]
