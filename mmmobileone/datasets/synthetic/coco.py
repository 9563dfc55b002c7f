"""Synthetic detection data in the COCO json format: coloured shapes with exact boxes.

Each image is a textured background with 1 to ``max_objects`` shapes (:mod:`.shapes`); every
shape class carries a real COCO category name and id (a disc is a ``sports ball``, an octagon a
``stop sign``, ...; :data:`SHAPE_CLASSES`). Shapes never overlap and lie fully inside the image,
so every box is the exact extent of the drawn pixels; ``segmentation`` holds the outer contours
of the drawn mask. The json files list all 80 COCO categories with their official ids (as the
real files do), so any mmdet COCO config reads them unchanged and ``pycocotools`` evaluates
them. Two layouts (:data:`LAYOUTS`)::

    layout='mmdet' (mmdet's default COCO layout)   layout='flat'
    ROOT/annotations/instances_train2017.json      ROOT/train.json
    ROOT/annotations/instances_val2017.json        ROOT/val.json
    ROOT/train2017/000000000001.jpg ...            ROOT/images/000000000001.jpg ...
    ROOT/val2017/...                               (both splits; image ids are unique)
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ._output import DatasetFolder
from .shapes import SHAPES, mask_polygons, shape_scene

#: ``info.description`` of every json written here.
SYNTHETIC_DESCRIPTION = 'mmmobileone synthetic COCO-format shapes'

#: layout -> (annotation file, image folder), relative to the root, per ``{split}``.
LAYOUTS: Dict[str, Tuple[str, str]] = {
    'mmdet': ('annotations/instances_{split}2017.json', '{split}2017'),
    'flat': ('{split}.json', 'images'),
}

#: ``(id, name, supercategory)`` of the 80 COCO 2017 detection categories.
COCO_CATEGORIES: Tuple[Tuple[int, str, str], ...] = tuple(
    (cat_id, name, supercategory) for supercategory, first_ids, names in (
        ('person', (1, ), ('person', )),
        ('vehicle', (2, 3, 4, 5, 6, 7, 8, 9),
         ('bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat')),
        ('outdoor', (10, 11, 13, 14, 15),
         ('traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench')),
        ('animal', (16, 17, 18, 19, 20, 21, 22, 23, 24, 25),
         ('bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
          'giraffe')),
        ('accessory', (27, 28, 31, 32, 33),
         ('backpack', 'umbrella', 'handbag', 'tie', 'suitcase')),
        ('sports', (34, 35, 36, 37, 38, 39, 40, 41, 42, 43),
         ('frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat',
          'baseball glove', 'skateboard', 'surfboard', 'tennis racket')),
        ('kitchen', (44, 46, 47, 48, 49, 50, 51),
         ('bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl')),
        ('food', (52, 53, 54, 55, 56, 57, 58, 59, 60, 61),
         ('banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
          'donut', 'cake')),
        ('furniture', (62, 63, 64, 65, 67, 70),
         ('chair', 'couch', 'potted plant', 'bed', 'dining table', 'toilet')),
        ('electronic', (72, 73, 74, 75, 76, 77),
         ('tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone')),
        ('appliance', (78, 79, 80, 81, 82),
         ('microwave', 'oven', 'toaster', 'sink', 'refrigerator')),
        ('indoor', (84, 85, 86, 87, 88, 89, 90),
         ('book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush')),
    ) for cat_id, name in zip(first_ids, names))

#: COCO category name -> shape of :data:`.shapes.SHAPES` (drawn in that shape's hue); in COCO
#: id order.
SHAPE_CLASSES: Dict[str, str] = {
    'stop sign': 'octagon',
    'umbrella': 'half_disc',
    'frisbee': 'ellipse',
    'sports ball': 'disc',
    'kite': 'diamond',
    'pizza': 'triangle',
    'donut': 'ring',
    'book': 'rectangle',
}

COCO_IDS: Dict[str, int] = {name: cat_id for cat_id, name, _ in COCO_CATEGORIES}


def coco_paths(split: str, layout: str = 'mmdet') -> Tuple[str, str]:
    """The annotation file and image folder of ``split``, relative to the dataset root.

    Args:
        split: ``'train'`` or ``'val'``.
        layout: A key of :data:`LAYOUTS`.

    Returns:
        ``(ann_file, image_folder)``, e.g. ``('annotations/instances_val2017.json',
        'val2017')``: the ``ann_file`` and ``data_prefix.img`` of an mmdet ``CocoDataset``.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f'layout must be one of {sorted(LAYOUTS)}, got {layout!r}')
    return tuple(pattern.format(split=split) for pattern in LAYOUTS[layout])


def coco_json(images: List[Dict], annotations: List[Dict], **info: Any) -> Dict:
    """A COCO instances json: the 80 categories, ``info.description`` =
    :data:`SYNTHETIC_DESCRIPTION`.

    Args:
        images: COCO ``images`` entries.
        annotations: COCO ``annotations`` entries.
        **info: More ``info`` fields.

    Returns:
        The json content.
    """
    categories = [dict(id=cat_id, name=name, supercategory=sup)
                  for cat_id, name, sup in COCO_CATEGORIES]
    return dict(info=dict(description=SYNTHETIC_DESCRIPTION, version='1.0', year=2026,
                          contributor='mmmobileone', **info),
                licenses=[], images=images, annotations=annotations, categories=categories)


def _written_before_markers(root: str) -> bool:
    """An mmdet-layout root written by this generator before it left a marker file."""
    path = osp.join(root, coco_paths('train')[0])
    try:
        with open(path) as f:
            return json.load(f).get('info', {}).get('description') == SYNTHETIC_DESCRIPTION
    except (OSError, ValueError):
        return False


def generate_coco(root: str = 'data/coco_synthetic',
                  num_train: int = 200,
                  num_val: int = 50,
                  classes: Optional[Sequence[str]] = None,
                  image_size: Union[int, Tuple[int, int]] = (320, 320),
                  max_objects: int = 4,
                  object_size: Tuple[float, float] = (0.25, 0.6),
                  seed: int = 0,
                  layout: str = 'mmdet',
                  overwrite: bool = False) -> Dict[str, int]:
    """Write a synthetic COCO-format detection dataset under ``root`` (see the module docstring).

    Args:
        root: Dataset root (the config's ``data_root``).
        num_train: Number of training images.
        num_val: Number of validation images.
        classes: COCO category names to draw, a subset of :data:`SHAPE_CLASSES` (default: all).
        image_size: ``(width, height)`` of every image, or one side of square images.
        max_objects: Each image has 1 to ``max_objects`` objects (fewer when they do not fit).
        object_size: Range of an object's circumscribed diameter, as a fraction of the shorter
            image side.
        seed: Random seed; the same arguments give the same files.
        layout: ``'mmdet'`` or ``'flat'`` (:data:`LAYOUTS`).
        overwrite: Replace what this generator wrote in ``root`` before. Anything else (a real
            COCO) is never overwritten.

    Returns:
        Counts: ``train_images``, ``val_images``, ``train_objects``, ``val_objects``.

    Raises:
        ValueError: An argument is out of range.
        FileExistsError: ``root`` holds files this generator did not write (or wrote, and
            ``overwrite`` is false).

    Example:
        >>> import tempfile
        >>> counts = generate_coco(tempfile.mkdtemp(), num_train=2, num_val=1)
        >>> counts['train_images'], counts['val_images']
        (2, 1)
    """
    classes = list(SHAPE_CLASSES) if classes is None else list(classes)
    unknown = [name for name in classes if name not in SHAPE_CLASSES]
    if not classes or unknown:
        raise ConfigError(f'classes must be a non-empty subset of {list(SHAPE_CLASSES)}; '
                          f'got {classes!r}')
    width, height = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(width, height) < 32 or num_train < 1 or num_val < 1 or max_objects < 1:
        raise ConfigError(f'need image_size >= 32 px, num_train, num_val, max_objects >= 1; got '
                          f'image_size={image_size}, num_train={num_train}, num_val={num_val}, '
                          f'max_objects={max_objects}')
    if not 0 < object_size[0] <= object_size[1] <= 1:
        raise ConfigError(f'object_size must satisfy 0 < min <= max <= 1; got {object_size}')
    coco_paths('train', layout)  # checks the layout
    arguments = dict(num_train=num_train, num_val=num_val, classes=classes,
                     image_size=[width, height], max_objects=max_objects,
                     object_size=list(object_size), seed=seed, layout=layout)
    drawn = [(SHAPE_CLASSES[name], SHAPES[SHAPE_CLASSES[name]]) for name in classes]
    counts = {}
    next_image_id, next_ann_id = 1, 1
    with DatasetFolder(root, 'coco', arguments, overwrite,
                       legacy=_written_before_markers) as folder:
        for split, num, split_seed in (('train', num_train, seed),
                                       ('val', num_val, seed + 10007)):
            rng = np.random.default_rng(split_seed)
            ann_file, image_dir = coco_paths(split, layout)
            images, annotations = [], []
            for _ in range(num):
                image, objects = shape_scene(height, width, drawn, max_objects, object_size,
                                             rng)
                file_name = f'{next_image_id:012d}.jpg'
                folder.write_jpeg(f'{image_dir}/{file_name}', image, quality=95)
                images.append(dict(id=next_image_id, file_name=file_name, width=width,
                                   height=height))
                for obj in objects:
                    x0, y0, x1, y1 = obj['box']
                    annotations.append(
                        dict(id=next_ann_id, image_id=next_image_id,
                             category_id=COCO_IDS[classes[obj['label']]],
                             bbox=[x0, y0, x1 - x0, y1 - y0], area=obj['area'], iscrowd=0,
                             segmentation=mask_polygons(obj['mask'])))
                    next_ann_id += 1
                next_image_id += 1
            folder.write_json(ann_file, coco_json(images, annotations, classes=classes,
                                                  seed=seed))
            counts[f'{split}_images'] = len(images)
            counts[f'{split}_objects'] = len(annotations)
    return counts
