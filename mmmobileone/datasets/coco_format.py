"""The content of COCO-format annotation files: what they may leave out, what makes them unusable.

Labelling tools write COCO-format files that pycocotools and mmdet read only in part: the
optional top-level ``info`` and ``licenses`` are often missing (pycocotools' ``loadRes`` copies
``dataset['info']``, so mmdet's ``CocoMetric`` crashes at the first validation, after a whole
epoch of training), as are ``iscrowd`` (``COCOeval`` reads it for every box) and ``area``
(mmdet's ``CocoDataset`` reads it). :func:`normalize_coco` fills in what the format defines as
optional; :func:`validate_coco_file` tells a usable file from an invalid one:

* **errors** (the file cannot be trained on as it is; reported before training starts, by file
  and index): not JSON or empty, no images, a missing or empty image file, a box with negative
  width or height or not four numbers, a category id not in ``categories``, an annotation of an
  image id not in ``images``, repeated image or annotation ids;
* **warnings** (mmdet's ``CocoDataset`` drops these boxes without a word; we count them and name
  the first annotation ids): NaN or infinite coordinates, zero width or height, a box entirely
  outside its image.

Instance masks, for segmentation from COCO files (``mmmobileone.COCOVOCDataset``): a
``segmentation`` that pycocotools cannot paint (an empty list, as detection-only exports write;
a polygon under 3 points or with an odd count of numbers; an RLE whose ``size`` is not the
image's) is named by :func:`segmentation_problem`; the dataset drops those annotations with
one warning in the form of :func:`dropped_boxes_warning` (file, count, reasons, annotation ids).

Boxes partly outside the image, crowd boxes (``iscrowd=1``, ignored in training and evaluation),
images without annotations and categories without annotations are valid and kept.

This module reads files, not configs: the checks of the files a config names, before training
starts, are :mod:`mmmobileone.datasets.preflight`. Nothing here imports a host library; the mmdet
classes that use it live in :mod:`mmmobileone.integrations.mmdet`.
"""
import json
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import DataError, MissingPathError

#: How many offending indices or annotation ids a message lists.
MAX_LISTED = 5

#: Reasons mmdet's ``CocoDataset`` drops a box, as :func:`box_problem` names them.
NON_FINITE = 'NaN or infinite coordinates'
NEGATIVE_SIZE = 'negative width or height'
ZERO_SIZE = 'zero width or height (under 1 px)'
OUTSIDE = 'entirely outside the image'
ZERO_AREA = 'an "area" of 0 or less'

#: Reasons a COCO ``segmentation`` cannot be painted, as :func:`segmentation_problem` names them
#: (pycocotools' ``frPyObjects`` / ``decode`` fail on these, or give a mask of another size).
EMPTY_SEGMENTATION = 'an empty "segmentation" (no polygon, as detection-only exports write)'
SHORT_POLYGON = 'a polygon of fewer than 3 points (6 numbers)'
ODD_POLYGON = 'a polygon with an odd count of numbers'
NOT_NUMBERS = 'a polygon that is not a list of finite numbers'
RLE_SIZE = 'an RLE "size" other than the image\'s [height, width]'
RLE_COUNTS = 'an RLE whose "counts" are missing or do not add up to height x width'
NOT_A_MASK = 'a "segmentation" that is neither a list of polygons nor an RLE dict'


def load_json_file(path: str, what: str = 'annotation file') -> Any:
    """The content of a JSON file; :class:`DataError` naming the file if it is empty or not JSON.

    Raises:
        MissingPathError: If ``path`` does not exist (a ``FileNotFoundError``).
        DataError: If the file is empty or not valid JSON, with the line and column (a
            ``ValueError``).
    """
    if not osp.isfile(path):
        raise MissingPathError(f'{what} {path!r} not found (working directory {os.getcwd()!r})')
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.strip():
        raise DataError(f'{what} {path!r} is empty ({len(raw)} bytes); expected a COCO-format '
                        f'JSON object with "images", "annotations" and "categories"')
    try:
        return json.loads(raw.decode('utf-8-sig'))
    except UnicodeDecodeError as error:
        raise DataError(f'{what} {path!r} is not JSON: not UTF-8 text (byte {error.start})'
                        ) from None
    except json.JSONDecodeError as error:
        raise DataError(f'{what} {path!r} is not valid JSON: {error.msg} at line {error.lineno} '
                        f'column {error.colno}') from None


def normalize_coco(data: Dict) -> List[str]:
    """Fill in, in place, what the COCO format allows a file to leave out; returns what was added.

    ``info`` ({}), ``licenses`` ([]), ``categories`` ([]) and ``annotations`` ([]) at the top
    level; per annotation ``iscrowd`` (0) and ``area`` (box width x height). Nothing that is
    present changes.
    """
    added = []
    for key, default in (('info', {}), ('licenses', []), ('categories', []),
                         ('annotations', [])):
        if key not in data or data[key] is None:
            data[key] = default
            added.append(f'"{key}"')
    no_crowd = no_area = 0
    for ann in data['annotations']:
        if not isinstance(ann, dict):
            continue
        if 'iscrowd' not in ann:
            ann['iscrowd'] = 0
            no_crowd += 1
        if 'area' not in ann:
            box = _box(ann)
            ann['area'] = float(box[2] * box[3]) if box is not None else 0.0
            no_area += 1
    if no_crowd:
        added.append(f'"iscrowd" of {no_crowd} annotations')
    if no_area:
        added.append(f'"area" of {no_area} annotations')
    return added


def _box(ann: Dict) -> Optional[Tuple[float, float, float, float]]:
    bbox = ann.get('bbox')
    if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
        return None
    return tuple(float(v) for v in bbox)


def box_problem(bbox: Sequence[float], width: float, height: float) -> Optional[str]:
    """Why mmdet's ``CocoDataset`` would drop the COCO box ``[x, y, w, h]``, or ``None``."""
    x, y, w, h = bbox
    if not all(math.isfinite(v) for v in bbox):
        return NON_FINITE
    if w < 0 or h < 0:
        return NEGATIVE_SIZE
    if w < 1 or h < 1:
        return ZERO_SIZE
    if min(x + w, width) <= max(x, 0) or min(y + h, height) <= max(y, 0):
        return OUTSIDE
    return None


def ann_problem(ann: Dict, width: float, height: float) -> Optional[str]:
    """Why mmdet's ``CocoDataset`` would drop the COCO annotation ``ann``, or ``None``.

    Its box (:func:`box_problem`) or its ``area`` (0 or less); ``None`` also for an ignored
    (``"ignore": true``) annotation, which mmdet skips on purpose.
    """
    if ann.get('ignore', False):
        return None
    box = _box(ann)
    if box is None:
        return 'no "bbox" of four numbers'
    reason = box_problem(box, width, height)
    area = ann.get('area', 1)
    if reason is None and isinstance(area, (int, float)) and area <= 0:
        reason = ZERO_AREA
    return reason


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def segmentation_problem(segmentation: Any, width: float, height: float) -> Optional[str]:
    """Why the COCO ``segmentation`` of an annotation cannot be painted, or ``None``.

    Polygons (a list of ``[x1, y1, x2, y2, ...]`` lists): the list is empty, or a polygon has
    fewer than 6 numbers (3 points), an odd count, or an entry that is not a finite number. RLE
    (a dict with ``size`` and ``counts``): ``size`` is not the image's ``[height, width]``, or
    uncompressed ``counts`` (a list) do not add up to ``height * width``. Compressed ``counts``
    (a string) are not decoded here.

    Args:
        segmentation: The annotation's ``segmentation`` entry.
        width: Width of the annotation's image.
        height: Height of the annotation's image.
    """
    if isinstance(segmentation, list):
        if not segmentation:
            return EMPTY_SEGMENTATION
        for polygon in segmentation:
            if not isinstance(polygon, list) or not all(_is_number(v) for v in polygon):
                return NOT_NUMBERS
            if len(polygon) < 6:
                return SHORT_POLYGON
            if len(polygon) % 2:
                return ODD_POLYGON
        return None
    if isinstance(segmentation, dict):
        size = segmentation.get('size')
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or list(size) != [height, width]):
            return RLE_SIZE
        counts = segmentation.get('counts')
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                       for c in counts) or sum(counts) != height * width:
                return RLE_COUNTS
        elif not isinstance(counts, (str, bytes)):
            return RLE_COUNTS
        return None
    return NOT_A_MASK


def _listed(items: Sequence, limit: int = MAX_LISTED) -> str:
    shown = ', '.join(str(item) for item in items[:limit])
    return shown + (f', ... ({len(items)} in all)' if len(items) > limit else '')


class CocoProblems:
    """What :func:`validate_coco_file` found: ``errors`` and ``warnings``, one line each.

    ``dropped`` maps a reason (:data:`NON_FINITE`, :data:`ZERO_SIZE`, :data:`OUTSIDE`,
    :data:`NEGATIVE_SIZE`) to the ids of the annotations with it; ``notes`` lists what
    :func:`normalize_coco` added.
    """

    def __init__(self, path: str):
        self.path = path
        self.errors: List[str] = []
        self.warnings: List[str] = []
        self.notes: List[str] = []
        self.dropped: Dict[str, List] = OrderedDict()
        self.num_images = self.num_annotations = 0

    def error(self, message: str) -> None:
        self.errors.append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_errors(self) -> None:
        """:class:`DataError` listing every error in one message (if there is any)."""
        if self.errors:
            raise DataError(f'{len(self.errors)} problem(s) in COCO-format annotation file '
                            f'{self.path!r}: ' + '; '.join(self.errors) +
                            '. Fix the file (or the config\'s data_root / data_prefix) and '
                            'run again; see docs/detection.md, "Your own dataset"')


def dropped_boxes_warning(path: str, dropped: Dict[str, List], total: int,
                          what: str = 'boxes') -> Optional[str]:
    """One line: how many ``what`` of ``path`` are dropped, why, and the first annotation ids.

    Args:
        path: The annotation file.
        dropped: Reason -> ids of the annotations dropped for it.
        total: How many ``what`` were read.
        what: What was dropped (``'boxes'``; ``'instance masks'`` for segmentation).
    """
    count = sum(len(ids) for ids in dropped.values())
    if not count:
        return None
    parts = [f'{len(ids)} with {reason} (annotation ids {_listed(ids)})'
             for reason, ids in dropped.items() if ids]
    return (f'{path}: {count} of {total} {what} are unusable and dropped: ' + '; '.join(parts))


def _group(indices: List[str], what: str) -> str:
    return f'{what} at {_listed(indices)}'


def _report(problems, groups) -> None:
    """One error per non-empty ``(items, what)`` group, in order."""
    for items, what in groups:
        if items:
            problems.error(_group(items, what))


def validate_coco(data: Any, path: str, image_root: Optional[str] = None,
                  classes: Optional[Sequence[str]] = None) -> CocoProblems:
    """Validate the COCO-format content ``data`` of ``path`` (see the module docstring).

    ``data`` is normalised in place (:func:`normalize_coco`). With ``image_root`` every listed
    image must exist there (``image_root/file_name``) and be a non-empty file; ``classes`` (the
    dataset's ``metainfo.classes``) must all be category names of the file.
    """
    problems = CocoProblems(path)
    if not isinstance(data, dict):
        problems.error(f'the top level is a JSON {type(data).__name__}, not an object with '
                       f'"images", "annotations" and "categories"')
        return problems
    problems.notes = normalize_coco(data)
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            problems.error(f'"{key}" must be a list, got {type(data.get(key)).__name__}')
    if problems.errors:
        return problems
    images, annotations = data['images'], data['annotations']
    problems.num_images, problems.num_annotations = len(images), len(annotations)
    if not images:
        problems.error('the "images" list is empty: no image to train or test on')
        return problems

    category_ids = {cat.get('id') for cat in data['categories'] if isinstance(cat, dict)}
    names = [cat.get('name') for cat in data['categories'] if isinstance(cat, dict)]
    unknown_classes = [name for name in classes or () if name not in names]
    if unknown_classes:
        problems.error(f'the config\'s classes {unknown_classes} are not category names of the '
                       f'file (its categories: {names}); set metainfo.classes to names from it')
    sizes: Dict[Any, Tuple[float, float]] = {}
    bad_entries, duplicates, missing, empty = [], [], [], []
    for i, image in enumerate(images):
        where = f'images[{i}]'
        if not isinstance(image, dict) or 'id' not in image or not image.get('file_name'):
            bad_entries.append(where)
            continue
        where = f'images[{i}] (id {image["id"]}, {image["file_name"]!r})'
        width, height = image.get('width'), image.get('height')
        if not all(isinstance(v, (int, float)) and v > 0 for v in (width, height)):
            bad_entries.append(where)
        if image['id'] in sizes:
            duplicates.append(where)
        sizes[image['id']] = (width or 0, height or 0)
        if image_root is not None:
            file_path = osp.join(image_root, image['file_name'])
            try:
                if os.stat(file_path).st_size == 0:
                    empty.append(where)
            except OSError:
                missing.append(where)
    _report(problems, (
        (bad_entries, 'image entries without "id", "file_name" or positive "width" and '
         '"height"'),
        (duplicates, 'repeated image ids'),
        (missing, f'image files missing from {image_root!r}'),
        (empty, f'0-byte image files in {image_root!r}')))

    malformed, negative, unknown_image, unknown_category, repeated = [], [], [], [], []
    seen_ids = set()
    for i, ann in enumerate(annotations):
        ann_id = ann.get('id') if isinstance(ann, dict) else None
        where = f'annotations[{i}] (id {ann_id})'
        box = _box(ann) if isinstance(ann, dict) else None
        if box is None or ann_id is None or 'image_id' not in ann or 'category_id' not in ann:
            malformed.append(where)
            continue
        if ann_id in seen_ids:
            repeated.append(where)
        seen_ids.add(ann_id)
        if ann['image_id'] not in sizes:
            unknown_image.append(f'{where}: image_id {ann["image_id"]}')
        if ann['category_id'] not in category_ids:
            unknown_category.append(f'{where}: category_id {ann["category_id"]}')
        reason = ann_problem(ann, *sizes.get(ann['image_id'], (math.inf, math.inf)))
        if reason == NEGATIVE_SIZE:
            negative.append(f'{where}: bbox {list(box)}')
        if reason is not None:
            problems.dropped.setdefault(reason, []).append(ann_id)
    _report(problems, (
        (malformed, 'annotations without "id", "image_id", "category_id" or a "bbox" of four '
         'numbers'),
        (repeated, 'repeated annotation ids'),
        (negative, 'boxes with negative width or height'),
        (unknown_image, 'annotations of image ids not in "images"'),
        (unknown_category, f'category ids not in "categories" '
         f'(ids {sorted(category_ids, key=str)})')))
    warning = dropped_boxes_warning(
        path, {k: v for k, v in problems.dropped.items() if k != NEGATIVE_SIZE},
        len(annotations))
    if warning:
        problems.warnings.append(warning)
    return problems


def validate_coco_file(path: str, image_root: Optional[str] = None,
                       classes: Optional[Sequence[str]] = None) -> CocoProblems:
    """Validate the COCO-format annotation file ``path``; see :func:`validate_coco`.

    Raises:
        MissingPathError: If ``path`` does not exist.
        DataError: If it is empty or not JSON (naming the file).
    """
    return validate_coco(load_json_file(path), path, image_root, classes)
