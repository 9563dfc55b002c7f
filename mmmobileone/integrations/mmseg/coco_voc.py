"""COCO instance annotations as Pascal VOC semantic segmentation (21 classes).

DeepLabV3 on VOC is commonly trained on VOC together with the COCO images that show VOC's 20
object classes (MobileViT's recipe, which the MobileOne paper follows). COCO's 80 categories
contain all 20 VOC classes under other names; every other COCO category, and every pixel no
instance covers, becomes background (0), as in VOC. Masks come from the COCO instances json
(``annotations/instances_train2017.json``) that every COCO user has; no conversion step is
needed.
"""
import copy
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from ...datasets.coco_format import dropped_boxes_warning, segmentation_problem
from ...errors import ConfigError, DataError
from ...registry import DATASETS, TRANSFORMS

IGNORE_INDEX = 255

#: COCO category name -> VOC label (0 is background). COCO ids: airplane 5, bicycle 2, bird 16,
#: boat 9, bottle 44, bus 6, car 3, cat 17, chair 62, cow 21, dining table 67, dog 18, horse 19,
#: motorcycle 4, person 1, potted plant 64, sheep 20, couch 63, train 7, tv 72.
COCO_TO_VOC: Dict[str, int] = {
    'airplane': 1, 'bicycle': 2, 'bird': 3, 'boat': 4, 'bottle': 5, 'bus': 6, 'car': 7,
    'cat': 8, 'chair': 9, 'cow': 10, 'dining table': 11, 'dog': 12, 'horse': 13,
    'motorcycle': 14, 'person': 15, 'potted plant': 16, 'sheep': 17, 'couch': 18, 'train': 19,
    'tv': 20
}


def rasterize_instances(instances: Sequence[Dict], height: int, width: int) -> np.ndarray:
    """Paint instances into a VOC label map.

    Args:
        instances: Dicts with ``label`` (VOC label, or ``IGNORE_INDEX``), ``segmentation``
            (COCO polygons, or RLE, compressed or not) and ``area``.
        height: Image height.
        width: Image width.

    Returns:
        ``uint8`` array ``(height, width)``: background 0, VOC labels 1-20, 255 for ignored
        (crowd) regions. Instances are painted largest area first, so that a small object in
        front of a large one stays visible; later (smaller) instances overwrite earlier ones.
    """
    seg_map = np.zeros((height, width), dtype=np.uint8)
    for instance in sorted(instances, key=lambda item: -item['area']):
        segmentation = instance['segmentation']
        if isinstance(segmentation, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get('counts'), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:  # compressed RLE
            rle = segmentation
        seg_map[mask_utils.decode(rle).astype(bool)] = instance['label']
    return seg_map


@DATASETS.register_module()
class COCOVOCDataset(BaseSegDataset):
    """COCO images with VOC's 21 classes, read from a COCO instances json.

    Each image keeps the instances of the 20 COCO categories in :data:`COCO_TO_VOC`, with their
    VOC label; :class:`LoadCOCOVOCAnnotations` paints them into the label map at load time
    (see :func:`rasterize_instances`). Crowd annotations (``iscrowd=1``, coarse masks over groups
    of objects) become ignored pixels (255) by default. Images whose non-crowd VOC instances cover
    fewer than ``min_area`` pixels (the sum of the annotations' ``area``) are dropped, as in the
    usual COCO-for-VOC preprocessing (1000 pixels).

    Annotations of VOC categories whose ``segmentation`` pycocotools cannot paint (an empty
    list, as detection-only exports write; a polygon of fewer than 3 points or with an odd count
    of numbers; an RLE whose ``size`` is not the image's; see
    :func:`mmmobileone.datasets.coco_format.segmentation_problem`) are dropped when the json is
    read, before training, with one warning that names the file, counts them by reason and lists
    their annotation ids (as the detection datasets do for unusable boxes). They count towards
    no image's labelled area.

    The metainfo (classes, palette) is :class:`mmseg.datasets.PascalVOCDataset`'s, so this dataset
    concatenates with the VOC datasets and is evaluated with VOC's class names.

    Args:
        ann_file: COCO instances json, e.g. ``annotations/instances_train2017.json``.
        data_prefix: ``dict(img_path='train2017')``; no ``seg_map_path`` (there are no mask
            files).
        min_area: Minimum labelled area per image, in pixels; ``0`` keeps every image that has
            at least one VOC instance.
        crowd_label: Label painted for crowd annotations of VOC categories: ``255`` (ignored,
            the default) or ``None`` to paint them with their class like other instances.
        **kwargs: Other :class:`mmseg.datasets.BaseSegDataset` arguments (``data_root``,
            ``pipeline``, ...).
    """

    METAINFO = copy.deepcopy(PascalVOCDataset.METAINFO)

    def __init__(self,
                 ann_file: str,
                 data_prefix: Optional[Dict] = None,
                 min_area: float = 1000,
                 crowd_label: Optional[int] = IGNORE_INDEX,
                 **kwargs) -> None:
        if min_area < 0:
            raise ConfigError(f'min_area must be >= 0, got {min_area!r}')
        if crowd_label is not None and crowd_label not in (IGNORE_INDEX, *range(21)):
            raise ConfigError(f'crowd_label must be None, 255 or a VOC label 0-20, '
                              f'got {crowd_label!r}')
        self.min_area = min_area
        self.crowd_label = crowd_label
        super().__init__(ann_file=ann_file,
                         data_prefix=data_prefix or dict(img_path=''),
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the instances json; keep the images that pass the ``min_area`` filter."""
        coco = COCO(self.ann_file)
        name_to_label = {}
        for cat in coco.loadCats(coco.getCatIds()):
            if cat['name'] in COCO_TO_VOC:
                name_to_label[cat['id']] = COCO_TO_VOC[cat['name']]
        if not name_to_label:
            raise DataError(f'{self.ann_file!r} has none of the COCO categories that map to VOC '
                            f'({sorted(COCO_TO_VOC)}); is it a COCO instances json?')
        img_dir = self.data_prefix.get('img_path', '')
        data_list = []
        dropped: Dict[str, List] = OrderedDict()
        num_masks = 0
        for img_id in sorted(coco.getImgIds()):
            info = coco.loadImgs([img_id])[0]
            instances = []
            labelled_area = 0.0
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])):
                label = name_to_label.get(ann['category_id'])
                if label is None:
                    continue
                num_masks += 1
                reason = segmentation_problem(ann.get('segmentation'), info['width'],
                                              info['height'])
                if reason is not None:
                    dropped.setdefault(reason, []).append(ann.get('id'))
                    continue
                if ann.get('iscrowd', 0):
                    if self.crowd_label is not None:
                        label = self.crowd_label
                else:
                    labelled_area += ann['area']
                instances.append(dict(label=label, segmentation=ann['segmentation'],
                                      area=ann['area']))
            if not instances or labelled_area < self.min_area:
                continue
            data_list.append(dict(img_path=osp.join(img_dir, info['file_name']),
                                  img_id=img_id, height=info['height'], width=info['width'],
                                  coco_voc_instances=instances, label_map=None,
                                  reduce_zero_label=False, seg_fields=[]))
        warning = dropped_boxes_warning(self.ann_file, dropped, num_masks, 'instance masks')
        if warning:
            print_log(warning, logger='current', level=logging.WARNING)
        print_log(f'COCOVOCDataset: {len(data_list)} of {len(coco.getImgIds())} images of '
                  f'{self.ann_file} have VOC instances covering >= {self.min_area} pixels',
                  logger='current')
        if not data_list:
            raise DataError(f'no image of {self.ann_file!r} has VOC instances covering >= '
                            f'{self.min_area} pixels (min_area); lower min_area or check the '
                            'json')
        return data_list


@TRANSFORMS.register_module()
class LoadCOCOVOCAnnotations(BaseTransform):
    """Paint the ``coco_voc_instances`` of :class:`COCOVOCDataset` into ``gt_seg_map``.

    Takes the place of mmseg's ``LoadAnnotations`` in the pipeline of that dataset.

    Required keys: ``coco_voc_instances``, ``height``, ``width``. Added keys: ``gt_seg_map``
    (``uint8``, VOC labels), ``seg_fields``.
    """

    def transform(self, results: Dict) -> Dict:
        if 'coco_voc_instances' not in results:
            raise ConfigError('LoadCOCOVOCAnnotations needs the "coco_voc_instances" of '
                              'COCOVOCDataset; use mmseg\'s LoadAnnotations for other datasets')
        results['gt_seg_map'] = rasterize_instances(results['coco_voc_instances'],
                                                    results['height'], results['width'])
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results
