"""Synthetic Pascal VOC segmentation data (mmseg's augmented layout), and COCO-for-VOC data.

:func:`generate_voc` writes VOC2012 as mmseg reads it for the augmented training set
(``root`` is the ``VOCdevkit/VOC2012`` folder, the configs' ``data_root``)::

    root/
    ├── JPEGImages/2007_000000.jpg, ...
    ├── SegmentationClass/*.png       palette PNGs (VOC's colours) with VOC's 255 "void" band
    │                                 along object borders, for train.txt and val.txt images
    ├── SegmentationClassAug/*.png    single-channel PNGs without the band (as mmseg's
    │                                 voc_aug.py writes them from SBD), for aug.txt images
    └── ImageSets/Segmentation/{train,aug,val}.txt

Each image shows three rectangles of VOC classes 1-20 (:func:`.shapes.rectangle_scene`).

:func:`generate_coco_voc` writes a fixed COCO instances json with hand-placed instances whose
VOC label maps are known exactly (the data of ``mmmobileone``'s ``COCOVOCDataset``).
"""
from typing import Dict, List, Tuple

import cv2
import numpy as np
from PIL import Image

from ...errors import ConfigError
from ._output import DatasetFolder
from .coco import COCO_IDS, coco_json
from .shapes import rectangle_scene

#: Pascal VOC's colour palette (index -> RGB), as in the dataset's palette PNGs.
VOC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
               [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0],
               [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128],
               [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]
#: VOC's label of pixels along object borders (ignored in training and evaluation).
VOID = 255


def voc_boundary(seg: np.ndarray, width: int = 1) -> np.ndarray:
    """A label map with VOC's :data:`VOID` band along the borders between labels.

    Args:
        seg: ``uint8`` label map.
        width: Band half-width in pixels: a pixel is void if a pixel of another label lies
            within ``width`` of it (Chebyshev distance).

    Returns:
        A copy of ``seg`` with the band set to :data:`VOID`.
    """
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    edges = cv2.dilate(seg, kernel) != cv2.erode(seg, kernel)
    out = seg.copy()
    out[edges] = VOID
    return out


def palette_png(seg: np.ndarray) -> Image.Image:
    """A label map as a palette (mode ``'P'``) image with :data:`VOC_PALETTE`.

    Args:
        seg: ``uint8`` label map.

    Returns:
        The image; its pixel values are the labels.
    """
    image = Image.fromarray(seg, mode='P')
    palette = [c for rgb in VOC_PALETTE for c in rgb]
    image.putpalette(palette + [0] * (768 - len(palette)))
    return image


def generate_voc(root: str = 'data/VOCdevkit/VOC2012',
                 num_train: int = 2,
                 num_aug: int = 2,
                 num_val: int = 2,
                 image_size: Tuple[int, int] = (64, 48),
                 seed: int = 0,
                 overwrite: bool = False) -> Dict[str, List[str]]:
    """Write synthetic Pascal VOC2012 in mmseg's augmented layout (see the module docstring).

    Args:
        root: The ``VOCdevkit/VOC2012`` folder (the configs' ``data_root``).
        num_train: Images in ``train.txt`` (masks in ``SegmentationClass``).
        num_aug: Images in ``aug.txt`` (masks in ``SegmentationClassAug``).
        num_val: Images in ``val.txt`` (masks in ``SegmentationClass``).
        image_size: ``(width, height)`` of every image (at least 4 x 4).
        seed: Random seed; the same arguments give the same files.
        overwrite: Replace what this generator wrote in ``root`` before.

    Returns:
        The image names (without extension) of each split: ``{'train': [...], 'aug': [...],
        'val': [...]}``, numbered ``2007_000000`` on across the splits in this order.

    Raises:
        ValueError: If an argument is out of range.
        FileExistsError: If ``root`` holds other files, or an earlier output and ``overwrite``
            is false.
    """
    width, height = image_size
    if min(width, height) < 4 or min(num_train, num_aug, num_val) < 0:
        raise ConfigError(f'need image_size >= 4 px and counts >= 0; got image_size='
                          f'{image_size}, counts {num_train}, {num_aug}, {num_val}')
    arguments = dict(num_train=num_train, num_aug=num_aug, num_val=num_val,
                     image_size=[width, height], seed=seed)
    rng = np.random.default_rng(seed)
    splits = (('train', num_train, 'SegmentationClass'), ('aug', num_aug, 'SegmentationClassAug'),
              ('val', num_val, 'SegmentationClass'))
    names: Dict[str, List[str]] = {}
    index = 0
    with DatasetFolder(root, 'voc', arguments, overwrite) as folder:
        for split, count, mask_dir in splits:
            names[split] = []
            for _ in range(count):
                name = f'2007_{index:06d}'
                index += 1
                image, seg = rectangle_scene(height, width, range(1, 21), 3, rng)
                folder.write_jpeg(f'JPEGImages/{name}.jpg', image, quality=100)
                if mask_dir == 'SegmentationClass':
                    mask = palette_png(voc_boundary(seg))
                else:
                    mask = Image.fromarray(seg, mode='L')
                folder.write_png(f'{mask_dir}/{name}.png', mask)
                names[split].append(name)
            folder.write_text(f'ImageSets/Segmentation/{split}.txt', names[split])
    return names


def _uncompressed_rle(mask: np.ndarray) -> Dict:
    """COCO's uncompressed RLE of a 0/1 mask (as the crowd annotations of the real jsons)."""
    flat = mask.ravel(order='F')
    starts = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], starts, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts  # runs start with zeros
    return dict(size=list(mask.shape), counts=counts)


#: COCO-for-VOC scene: (image, COCO category, (x0, y0, x1, y1) pixel-edge box, iscrowd).
COCO_VOC_INSTANCES = (
    ('a.jpg', 'person', (5, 5, 35, 35), 0), ('a.jpg', 'dog', (10, 10, 20, 30), 0),
    ('a.jpg', 'truck', (40, 0, 60, 10), 0), ('a.jpg', 'person', (40, 20, 60, 40), 1),
    ('b.jpg', 'tv', (0, 0, 5, 4), 0), ('b.jpg', 'couch', (50, 30, 60, 34), 0),
    ('c.jpg', 'truck', (0, 0, 30, 30), 0))
#: The VOC labels of the categories used (truck: no VOC class, background).
COCO_VOC_LABELS = {'person': 15, 'truck': 0, 'dog': 12, 'couch': 18, 'tv': 20}
COCO_VOC_SIZE = (60, 40)  # (width, height)


def generate_coco_voc(root: str = 'data/coco', overwrite: bool = False) -> Dict[str, np.ndarray]:
    """Write COCO instances with known VOC label maps; return those maps.

    ``root/train2017/{a,b,c}.jpg`` (60 x 40, flat grey) and
    ``root/annotations/instances_train2017.json`` with COCO's 80 categories and real ids
    (:data:`COCO_VOC_INSTANCES`). Rectangles are polygons with corners on pixel edges, so their
    masks are exact. Image ``a.jpg``: a person (VOC 15) with a smaller dog (VOC 12) in front, a
    truck (no VOC class: background) and a crowd of people (uncompressed RLE, as COCO stores
    crowds: ignored, 255). Image ``b.jpg``: a tv (VOC 20) and a couch (VOC 18) of 60 pixels
    together. Image ``c.jpg``: only a truck (no VOC instance). Nothing is random.

    Args:
        root: COCO root (the config's ``data_root`` of the COCO part).
        overwrite: Replace what this generator wrote in ``root`` before.

    Returns:
        File name -> expected ``uint8`` VOC label map (``crowd_label=255``, no ``min_area``
        filter; instances painted largest first).

    Raises:
        FileExistsError: If ``root`` holds other files, or an earlier output and ``overwrite``
            is false.
    """
    width, height = COCO_VOC_SIZE
    files = ('a.jpg', 'b.jpg', 'c.jpg')
    images, annotations, expected = [], [], {}
    with DatasetFolder(root, 'coco_voc', {}, overwrite) as folder:
        for img_id, file_name in enumerate(files, 1):
            images.append(dict(id=img_id, file_name=file_name, height=height, width=width))
            expected[file_name] = np.zeros((height, width), np.uint8)
            folder.write_jpeg(f'train2017/{file_name}',
                              np.full((height, width, 3), 30 * img_id, np.uint8))
        for ann_id, (file_name, name, (x0, y0, x1, y1), crowd) in enumerate(
                COCO_VOC_INSTANCES, 1):
            if crowd:
                mask = np.zeros((height, width), np.uint8)
                mask[y0:y1, x0:x1] = 1
                segmentation = _uncompressed_rle(mask)
            else:
                segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            annotations.append(dict(id=ann_id, image_id=files.index(file_name) + 1,
                                    category_id=COCO_IDS[name], segmentation=segmentation,
                                    area=float((x1 - x0) * (y1 - y0)),
                                    bbox=[x0, y0, x1 - x0, y1 - y0], iscrowd=crowd))
        folder.write_json('annotations/instances_train2017.json',
                          coco_json(images, annotations))
    for file_name, name, (x0, y0, x1, y1), crowd in sorted(
            COCO_VOC_INSTANCES, key=lambda b: -(b[2][2] - b[2][0]) * (b[2][3] - b[2][1])):
        if COCO_VOC_LABELS[name] or crowd:
            expected[file_name][y0:y1, x0:x1] = VOID if crowd else COCO_VOC_LABELS[name]
    return expected
