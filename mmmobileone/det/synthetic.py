"""A small synthetic detection dataset in the real COCO format, for the quickstart and tests.

Each image is a textured background with a few coloured shapes; every shape class carries a
real COCO category name and id (a circle is a ``sports ball``, an octagon a ``stop sign``, ...).
Shapes never overlap and lie fully inside the image, so every box is the exact extent of the
drawn pixels. The files follow mmdet's default COCO layout::

    ROOT/annotations/instances_train2017.json
    ROOT/annotations/instances_val2017.json
    ROOT/train2017/000000000001.jpg ...
    ROOT/val2017/...

The json files list all 80 COCO categories with their official ids (as the real files do), so
any mmdet COCO config reads them unchanged, and ``pycocotools`` evaluates them.

Command line: ``python -m mmmobileone.det.synthetic --root data/coco_synthetic``.
"""
import argparse
import json
import logging
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

SYNTHETIC_DESCRIPTION = 'mmmobileone synthetic COCO-format shapes'

# (id, name, supercategory) of the 80 COCO 2017 detection categories.
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

# COCO category name -> (shape, hue in OpenCV units 0-179). In COCO id order.
SHAPE_CLASSES: Dict[str, Tuple[str, int]] = {
    'stop sign': ('octagon', 0),
    'umbrella': ('half_disc', 140),
    'frisbee': ('ellipse', 60),
    'sports ball': ('disc', 12),
    'kite': ('diamond', 90),
    'pizza': ('triangle', 28),
    'donut': ('ring', 165),
    'book': ('rectangle', 115),
}

_COCO_IDS = {name: cat_id for cat_id, name, _ in COCO_CATEGORIES}


def _polygon(center: Tuple[float, float], radius: float, sides: int, angle: float,
             scale: Tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    thetas = angle + 2 * math.pi * np.arange(sides) / sides
    xs = center[0] + radius * scale[0] * np.cos(thetas)
    ys = center[1] + radius * scale[1] * np.sin(thetas)
    return np.round(np.stack([xs, ys], axis=1)).astype(np.int32)


def draw_shape_mask(shape: str, height: int, width: int, center: Tuple[float, float],
                    radius: float, rng: np.random.Generator) -> np.ndarray:
    """Draw one filled shape of circumradius ``radius``; returns a ``uint8`` 0/1 mask."""
    mask = np.zeros((height, width), np.uint8)
    cx, cy = center
    angle = float(rng.uniform(0, 2 * math.pi))
    c = (int(round(cx)), int(round(cy)))
    r = int(round(radius))
    if shape == 'disc':
        cv2.circle(mask, c, r, 1, -1)
    elif shape == 'ring':
        cv2.circle(mask, c, r, 1, -1)
        cv2.circle(mask, c, max(1, int(round(radius * 0.45))), 0, -1)
    elif shape == 'ellipse':
        axes = (r, max(2, int(round(radius * rng.uniform(0.45, 0.65)))))
        cv2.ellipse(mask, c, axes, math.degrees(angle), 0, 360, 1, -1)
    elif shape == 'half_disc':
        cv2.ellipse(mask, c, (r, r), math.degrees(angle), 0, 180, 1, -1)
    elif shape in ('octagon', 'triangle', 'diamond', 'rectangle'):
        if shape == 'octagon':
            points = _polygon(center, radius, 8, angle)
        elif shape == 'triangle':
            points = _polygon(center, radius, 3, angle)
        elif shape == 'diamond':
            points = _polygon(center, radius, 4, angle, scale=(1.0, 0.6))
            rot = np.array([[math.cos(angle), -math.sin(angle)],
                            [math.sin(angle), math.cos(angle)]])
            points = np.round((points - center) @ rot.T + center).astype(np.int32)
        else:
            aspect = rng.uniform(0.5, 0.8)
            half = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * radius
            rot = np.array([[math.cos(angle), -math.sin(angle)],
                            [math.sin(angle), math.cos(angle)]])
            points = np.round(half @ rot.T + center).astype(np.int32)
        cv2.fillPoly(mask, [points], 1)
    else:
        raise ValueError(f'unknown shape {shape!r}; known: '
                         f'{sorted({s for s, _ in SHAPE_CLASSES.values()})}')
    return mask


def textured_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A BGR ``uint8`` background: smooth colour noise, stripes or a checkerboard."""
    kind = rng.integers(3)
    base = rng.uniform(60, 200, size=3)
    if kind == 0:
        cells = rng.integers(3, 9)
        grid = rng.uniform(-60, 60, size=(cells, cells, 3)).astype(np.float32)
        image = base + cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        period = rng.uniform(8, 40)
        if kind == 1:
            theta = rng.uniform(0, math.pi)
            phase = (xs * math.cos(theta) + ys * math.sin(theta)) / period
            pattern = np.sin(2 * math.pi * phase)
        else:
            pattern = np.sign(np.sin(math.pi * xs / period) * np.sin(math.pi * ys / period))
        other = rng.uniform(60, 200, size=3)
        image = base + (other - base) * (0.5 + 0.5 * pattern[..., None]) * 0.6
    image = image + rng.normal(0, 6, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _class_colour(hue: int, rng: np.random.Generator) -> Tuple[int, int, int]:
    hsv = np.array([[[(hue + rng.integers(-8, 9)) % 180, rng.integers(170, 256),
                      rng.integers(150, 256)]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _mask_polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def synthesize_image(height: int, width: int, classes: Sequence[str], max_objects: int,
                     object_size: Tuple[float, float], rng: np.random.Generator
                     ) -> Tuple[np.ndarray, List[Dict]]:
    """One image and its objects: ``[{'name', 'bbox' (x, y, w, h), 'area', 'segmentation'}]``.

    Every box is the exact extent of the drawn pixels of its shape; shapes never overlap.
    """
    image = textured_background(height, width, rng)
    taken: List[Tuple[int, int, int, int]] = []
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        name = classes[int(rng.integers(len(classes)))]
        shape, hue = SHAPE_CLASSES[name]
        for _attempt in range(20):
            radius = 0.5 * min(height, width) * rng.uniform(*object_size)
            center = (rng.uniform(radius + 1, width - radius - 1),
                      rng.uniform(radius + 1, height - radius - 1))
            mask = draw_shape_mask(shape, height, width, center, radius, rng)
            ys, xs = np.nonzero(mask)
            if len(xs) < 16:
                continue
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            if all(box[2] + 2 <= t[0] or t[2] + 2 <= box[0] or box[3] + 2 <= t[1]
                   or t[3] + 2 <= box[1] for t in taken):
                break
        else:
            continue
        taken.append(box)
        image[mask.astype(bool)] = _class_colour(hue, rng)
        objects.append(
            dict(name=name, bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]],
                 area=int(mask.sum()), segmentation=_mask_polygons(mask)))
    noisy = image.astype(np.float32) + rng.normal(0, 4, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), objects


def _check_root(root: str, overwrite: bool) -> None:
    for split in ('train', 'val'):
        path = osp.join(root, 'annotations', f'instances_{split}2017.json')
        if not osp.exists(path):
            continue
        try:
            with open(path) as f:
                description = json.load(f).get('info', {}).get('description', '')
        except (OSError, ValueError):
            description = ''
        if description != SYNTHETIC_DESCRIPTION:
            raise FileExistsError(f'{path!r} exists and is not a synthetic dataset written by '
                                  'mmmobileone: refusing to overwrite it; choose another root')
        if not overwrite:
            raise FileExistsError(f'{path!r} exists; pass overwrite=True (--overwrite) to '
                                  'write the synthetic dataset again')


def generate_synthetic_coco(root: str = 'data/coco_synthetic',
                            num_train: int = 200,
                            num_val: int = 50,
                            classes: Optional[Sequence[str]] = None,
                            image_size: Tuple[int, int] = (320, 320),
                            max_objects: int = 4,
                            object_size: Tuple[float, float] = (0.25, 0.6),
                            seed: int = 0,
                            overwrite: bool = False) -> Dict[str, int]:
    """Write a synthetic detection dataset in mmdet's default COCO layout under ``root``.

    Args:
        root: Dataset root; receives ``annotations/instances_{train,val}2017.json`` and the
            image folders ``train2017/`` and ``val2017/``.
        num_train: Number of training images.
        num_val: Number of validation images.
        classes: COCO category names to draw, a subset of :data:`SHAPE_CLASSES` (default: all).
        image_size: ``(width, height)`` of every image.
        max_objects: Each image has 1 to ``max_objects`` objects (fewer when they do not fit).
        object_size: Range of an object's circumscribed diameter, as a fraction of the shorter
            image side.
        seed: Random seed; the same arguments give the same files.
        overwrite: Replace a synthetic dataset already in ``root``. A non-synthetic one (a real
            COCO) is never overwritten.

    Returns:
        Counts: ``train_images``, ``val_images``, ``train_objects``, ``val_objects``.

    Example:
        >>> import tempfile
        >>> counts = generate_synthetic_coco(tempfile.mkdtemp(), num_train=2, num_val=1)
        >>> counts['train_images'], counts['val_images']
        (2, 1)
    """
    classes = list(SHAPE_CLASSES) if classes is None else list(classes)
    unknown = [name for name in classes if name not in SHAPE_CLASSES]
    if not classes or unknown:
        raise ValueError(f'classes must be a non-empty subset of {list(SHAPE_CLASSES)}; '
                         f'got {classes!r}')
    width, height = image_size
    if min(width, height) < 32 or num_train < 1 or num_val < 1 or max_objects < 1:
        raise ValueError(f'need image_size >= 32 px, num_train, num_val, max_objects >= 1; got '
                         f'image_size={image_size}, num_train={num_train}, num_val={num_val}, '
                         f'max_objects={max_objects}')
    if not 0 < object_size[0] <= object_size[1] <= 1:
        raise ValueError(f'object_size must satisfy 0 < min <= max <= 1; got {object_size}')
    _check_root(root, overwrite)
    categories = [dict(id=cat_id, name=name, supercategory=sup)
                  for cat_id, name, sup in COCO_CATEGORIES]
    counts = {}
    next_image_id, next_ann_id = 1, 1
    for split, num, split_seed in (('train', num_train, seed), ('val', num_val, seed + 10007)):
        rng = np.random.default_rng(split_seed)
        image_dir = osp.join(root, f'{split}2017')
        os.makedirs(image_dir, exist_ok=True)
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        images, annotations = [], []
        for _ in range(num):
            image, objects = synthesize_image(height, width, classes, max_objects, object_size,
                                              rng)
            file_name = f'{next_image_id:012d}.jpg'
            cv2.imwrite(osp.join(image_dir, file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append(dict(id=next_image_id, file_name=file_name, width=width,
                               height=height))
            for obj in objects:
                annotations.append(
                    dict(id=next_ann_id, image_id=next_image_id,
                         category_id=_COCO_IDS[obj['name']], bbox=obj['bbox'],
                         area=obj['area'], iscrowd=0, segmentation=obj['segmentation']))
                next_ann_id += 1
            next_image_id += 1
        data = dict(
            info=dict(description=SYNTHETIC_DESCRIPTION, version='1.0', year=2026,
                      contributor='mmmobileone', classes=classes, seed=seed),
            licenses=[], images=images, annotations=annotations, categories=categories)
        with open(osp.join(root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(data, f)
        counts[f'{split}_images'] = len(images)
        counts[f'{split}_objects'] = len(annotations)
        logger.info(f'synthetic COCO {split}: {len(images)} images, {len(annotations)} '
                    f'objects in {image_dir}')
    return counts


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Command line: ``python -m mmmobileone.det.synthetic --root DIR [...]``."""
    parser = argparse.ArgumentParser(description='Write a synthetic COCO-format detection '
                                     'dataset (coloured shapes named after COCO categories)')
    parser.add_argument('--root', default='data/coco_synthetic', help='dataset root')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--classes', nargs='+', choices=list(SHAPE_CLASSES),
                        help='category names to draw (default: all)')
    parser.add_argument('--image-size', type=int, nargs=2, default=(320, 320),
                        metavar=('WIDTH', 'HEIGHT'))
    parser.add_argument('--max-objects', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    return generate_synthetic_coco(args.root, args.num_train, args.num_val, args.classes,
                                   tuple(args.image_size), args.max_objects, seed=args.seed,
                                   overwrite=args.overwrite)


if __name__ == '__main__':
    main()
