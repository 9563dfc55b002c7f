"""mmdet's ``CocoDataset`` and ``CocoMetric`` for the COCO-format files labelling tools write.

mmdet 3.3.0 with pycocotools 2.0.x reads only part of what the COCO format allows:

* a file without the optional top-level ``info`` trains for a whole epoch and then crashes at
  the first validation, in pycocotools' ``COCO.loadRes`` (``KeyError: 'info'``: it copies
  ``dataset['info']`` into the results);
* annotations without the optional ``iscrowd`` crash ``COCOeval`` (``KeyError: 'iscrowd'``),
  without ``area`` crash ``CocoDataset`` (``KeyError: 'area'``);
* an empty or non-JSON file fails with a bare ``JSONDecodeError``, an empty ``images`` list
  with ``need at least one array to concatenate``, deep in the data loader;
* boxes with NaN coordinates, zero or negative size or entirely outside the image are dropped
  without a word;
* a model that predicts nothing on the validation set yields an empty metrics block (an
  ``IndexError`` in ``loadRes``, logged as an error, swallowed).

:class:`CocoDataset` and :class:`CocoMetric` are mmdet's classes (drop-ins: same arguments, same
results on files mmdet reads) that read the file through
:func:`mmmobileone.datasets.coco_format.normalize_coco`, name the file in every error, log how many
boxes are dropped and why (with the first annotation ids), and report mAP 0 with a warning when
nothing is predicted. The shipped mmdet configs name them (``type='mmmobileone.CocoDataset'``,
``'mmmobileone.CocoMetric'``; see ``configs/_base_/runtime_safeguards.py``).
"""
import logging
from collections import OrderedDict
from typing import Dict, List, Optional

from mmdet.datasets import CocoDataset as MMDetCocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric as MMDetCocoMetric
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ...datasets.coco_format import (ann_problem, dropped_boxes_warning, load_json_file,
                                     normalize_coco)
from ...errors import DataError
from ...registry import DATASETS, METRICS

#: Items of ``CocoMetric`` for ``bbox`` / ``segm`` and for ``proposal`` (mmdet's defaults).
MAP_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
AR_ITEMS = ('AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


class NormalizedCOCO(COCO):
    """mmdet's ``COCO`` API on the normalised content of a COCO-format file.

    Errors name the file: ``ValueError`` for an empty or non-JSON file or one without an
    ``images`` list.
    """

    def __init__(self, annotation_file: Optional[str] = None):
        super().__init__(annotation_file=None)
        if annotation_file is None:
            return
        data = load_json_file(annotation_file)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list):
            raise DataError(f'annotation file {annotation_file!r} is not a COCO-format object: '
                            f'it needs an "images" list (see docs/detection.md, "Your own '
                            f'dataset")')
        self.added = normalize_coco(data)
        self.dataset = data
        self.createIndex()
        self.img_ann_map = self.imgToAnns
        self.cat_img_map = self.catToImgs


@DATASETS.register_module()
class CocoDataset(MMDetCocoDataset):
    """mmdet's ``CocoDataset`` for files labelling tools write (see the module docstring).

    Raises:
        ValueError: Naming the file, if it is empty, not JSON, or lists no images.
    """

    COCOAPI = NormalizedCOCO

    def load_data_list(self) -> List[dict]:
        self._dropped: Dict[str, List] = OrderedDict()
        self._num_boxes = 0
        data_list = super().load_data_list()
        if not data_list:
            raise DataError(f'annotation file {self.ann_file!r}: the "images" list is empty: '
                            f'no image to train or test on')
        warning = dropped_boxes_warning(self.ann_file, self._dropped, self._num_boxes)
        if warning:
            print_log(warning, logger='current', level=logging.WARNING)
        return data_list

    def parse_data_info(self, raw_data_info: dict):
        image = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            self._num_boxes += 1
            reason = ann_problem(ann, image['width'], image['height'])
            if reason is not None:
                self._dropped.setdefault(reason, []).append(ann.get('id'))
        return super().parse_data_info(raw_data_info)


@METRICS.register_module()
class CocoMetric(MMDetCocoMetric):
    """mmdet's ``CocoMetric`` for files labelling tools write (see the module docstring).

    When the model predicts no box on the whole set, every metric is 0 (with a warning), as
    COCO's definition gives, instead of mmdet's empty result.
    """

    def __init__(self, ann_file: Optional[str] = None, *args, **kwargs):
        super().__init__(None, *args, **kwargs)
        if ann_file is not None:
            with get_local_path(ann_file, backend_args=self.backend_args) as local_path:
                self._coco_api = NormalizedCOCO(local_path)
            if kwargs.get('sort_categories', False):  # as mmdet does, for Objects365
                self._coco_api.cats = {i: self._coco_api.cats[i]
                                       for i in sorted(self._coco_api.cats)}
                self._coco_api.dataset['categories'] = sorted(
                    self._coco_api.dataset['categories'], key=lambda cat: cat['id'])
        self.ann_file = ann_file

    def compute_metrics(self, results: list) -> Dict[str, float]:
        nothing_predicted = results and not any(len(pred['bboxes']) for _, pred in results)
        if (not nothing_predicted or self.format_only
                or not set(self.metrics) <= {'bbox', 'segm', 'proposal'}):
            return super().compute_metrics(results)
        print_log(f'CocoMetric: the model predicted no box on the {len(results)} images of '
                  f'{self.ann_file or "the set"}; reporting every metric as 0',
                  logger='current', level=logging.WARNING)
        eval_results = OrderedDict()
        for metric in self.metrics:
            if metric == 'proposal':
                for item in self.metric_items or AR_ITEMS:
                    eval_results[item] = 0.0
            else:
                for item in self.metric_items or MAP_ITEMS:
                    eval_results[f'{metric}_{item}'] = 0.0
        return eval_results
