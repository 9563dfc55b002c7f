"""Tiny segmentation datasets in the real on-disk layouts, and overrides for short test runs.

The generators write Pascal VOC (augmented, mmseg's layout), ADE20k and COCO-instances data
of a few small images. Each image shows axis-aligned rectangles whose colour depends on their
class, so that a network can start to learn from a few iterations. Only numpy, OpenCV and
Pillow are used (no mmseg import).
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from ..datasets.checks import iter_dataset_cfgs

Size = Tuple[int, int]  # (height, width)

#: Pascal VOC's colour palette (index -> RGB), as in the dataset's palette PNGs.
VOC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
               [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0],
               [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128],
               [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]


def _class_colour(label: int) -> np.ndarray:
    """A fixed BGR colour per label (labels far apart get different colours)."""
    rng = np.random.default_rng(1000 + label)
    return rng.integers(0, 256, size=3).astype(np.uint8)


def _random_scene(rng: np.random.Generator, size: Size, labels: Sequence[int],
                  num_objects: int) -> Tuple[np.ndarray, np.ndarray]:
    """An image (BGR uint8) and its label map (uint8, 0 = background) with rectangles."""
    height, width = size
    image = rng.integers(0, 40, size=(height, width, 3)).astype(np.uint8)
    seg = np.zeros((height, width), dtype=np.uint8)
    for _ in range(num_objects):
        label = int(rng.choice(labels))
        h = int(rng.integers(height // 4, height // 2 + 1))
        w = int(rng.integers(width // 4, width // 2 + 1))
        y = int(rng.integers(0, height - h + 1))
        x = int(rng.integers(0, width - w + 1))
        image[y:y + h, x:x + w] = _class_colour(label)
        seg[y:y + h, x:x + w] = label
    return image, seg


def _voc_boundary(seg: np.ndarray, width: int = 1) -> np.ndarray:
    """VOC's 255 "void" band along object borders."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    edges = cv2.dilate(seg, kernel) != cv2.erode(seg, kernel)
    out = seg.copy()
    out[edges] = 255
    return out


def _save_palette_png(path: str, seg: np.ndarray) -> None:
    image = Image.fromarray(seg, mode='P')
    palette = [c for rgb in VOC_PALETTE for c in rgb]
    image.putpalette(palette + [0] * (768 - len(palette)))
    image.save(path)


def make_voc_dataset(root: str,
                     num_train: int = 2,
                     num_aug: int = 2,
                     num_val: int = 2,
                     size: Size = (48, 64),
                     seed: int = 0) -> str:
    """Write augmented Pascal VOC in mmseg's layout under ``root`` and return the VOC2012 folder.

    Layout (``root/VOCdevkit/VOC2012``): ``JPEGImages/*.jpg``; ``SegmentationClass/*.png``
    (palette PNGs with a 255 band along object borders, as VOC's own masks) for the
    ``ImageSets/Segmentation/train.txt`` and ``val.txt`` images; ``SegmentationClassAug/*.png``
    (single-channel PNGs, as written by mmseg's ``voc_aug.py`` from SBD) for the ``aug.txt``
    images.

    Args:
        root: Folder to write into (created if needed).
        num_train: Images in ``train.txt``.
        num_aug: Images in ``aug.txt``.
        num_val: Images in ``val.txt``.
        size: ``(height, width)`` of every image.
        seed: Random seed.

    Returns:
        The path of ``VOCdevkit/VOC2012``.
    """
    rng = np.random.default_rng(seed)
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    folders = ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
               osp.join('ImageSets', 'Segmentation'))
    for folder in folders:
        os.makedirs(osp.join(voc, folder), exist_ok=True)
    splits = (('train', num_train, 'SegmentationClass'), ('aug', num_aug, 'SegmentationClassAug'),
              ('val', num_val, 'SegmentationClass'))
    index = 0
    for split, count, mask_dir in splits:
        names = []
        for _ in range(count):
            name = f'2007_{index:06d}'
            index += 1
            image, seg = _random_scene(rng, size, labels=range(1, 21), num_objects=3)
            cv2.imwrite(osp.join(voc, 'JPEGImages', f'{name}.jpg'), image,
                        [cv2.IMWRITE_JPEG_QUALITY, 100])
            if mask_dir == 'SegmentationClass':
                _save_palette_png(osp.join(voc, mask_dir, f'{name}.png'), _voc_boundary(seg))
            else:
                Image.fromarray(seg, mode='L').save(osp.join(voc, mask_dir, f'{name}.png'))
            names.append(name)
        with open(osp.join(voc, 'ImageSets', 'Segmentation', f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{name}\n' for name in names))
    return voc


def make_ade20k_dataset(root: str,
                        num_train: int = 2,
                        num_val: int = 2,
                        size: Size = (48, 64),
                        seed: int = 0) -> str:
    """Write ADE20k (SceneParsing) in its release layout and return the data root.

    Layout (``root/ade/ADEChallengeData2016``): ``images/{training,validation}/ADE_*.jpg`` and
    ``annotations/{training,validation}/ADE_*.png`` with values 0-150, where 0 is "other"
    (ignored with ``reduce_zero_label``) and 1-150 are the classes.

    Returns:
        The path of ``ADEChallengeData2016``.
    """
    rng = np.random.default_rng(seed)
    ade = osp.join(root, 'ade', 'ADEChallengeData2016')
    for split, prefix, count in (('training', 'ADE_train', num_train),
                                 ('validation', 'ADE_val', num_val)):
        os.makedirs(osp.join(ade, 'images', split), exist_ok=True)
        os.makedirs(osp.join(ade, 'annotations', split), exist_ok=True)
        for i in range(count):
            name = f'{prefix}_{i + 1:08d}'
            image, seg = _random_scene(rng, size, labels=range(1, 151), num_objects=3)
            # a class-1 ("wall") band at the top, as ADE20k scenes have large stuff regions
            seg[:size[0] // 6] = 1
            image[:size[0] // 6] = _class_colour(1)
            cv2.imwrite(osp.join(ade, 'images', split, f'{name}.jpg'), image,
                        [cv2.IMWRITE_JPEG_QUALITY, 100])
            Image.fromarray(seg, mode='L').save(osp.join(ade, 'annotations', split, f'{name}.png'))
    return ade


def small_run_options(cfg: Any,
                      data_root: str,
                      crop_size: int = 32,
                      max_iters: int = 2,
                      batch_size: int = 2) -> List[str]:
    """``--cfg-options`` entries that shrink a segmentation config to a quick run.

    Only the data location, the crop (with the resize scales that go with it: ``(4c, c)`` for
    crop ``c``, as mmseg's ``(2048, 512)`` for 512), the number of iterations and the batch size
    change; everything else (model, optimizer, hooks) stays the shipped config's. Data loading
    runs in the main process (``num_workers=0``), the backbone starts from random weights
    (``init_cfg=None``: no download), and checkpoints leave out the optimizer state and the extra
    "best" copy (``save_optimizer=False``, ``save_best=None``), which only cost disk time here.

    Args:
        cfg: An mmengine ``Config`` of an iteration-based segmentation config.
        data_root: Replaces every dataset's ``data_root``.
        crop_size: Square crop (and padded input) size.
        max_iters: Training iterations; validation and checkpointing happen once, at the end.
        batch_size: Training batch size.

    Returns:
        ``key=value`` strings for ``tools/train.py`` / ``tools/test.py --cfg-options``.
    """
    crop = f'({crop_size},{crop_size})'
    options = [
        f'model.data_preprocessor.size={crop}', 'model.backbone.init_cfg=None',
        f'train_dataloader.batch_size={batch_size}'
    ]
    if 'train_cfg' in cfg and 'max_iters' in cfg.train_cfg:
        options += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
                    f'default_hooks.checkpoint.interval={max_iters}']
    if 'checkpoint' in cfg.get('default_hooks', {}):
        options += ['default_hooks.checkpoint.save_optimizer=False',
                    'default_hooks.checkpoint.save_best=None']
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        if cfg.get(key) is None:
            continue
        options += [f'{key}.num_workers=0', f'{key}.persistent_workers=False']
        for where, dataset in iter_dataset_cfgs(cfg[key]['dataset'], f'{key}.dataset'):
            options.append(f'{where}.data_root={data_root}')
            for i, transform in enumerate(dataset.get('pipeline', [])):
                if 'crop_size' in transform:
                    options.append(f'{where}.pipeline.{i}.crop_size={crop}')
                if transform.get('type') in ('Resize', 'RandomResize') and 'scale' in transform:
                    options.append(f'{where}.pipeline.{i}.scale=({4 * crop_size},{crop_size})')
    return options


def make_coco_voc_dataset(root: str, size: Size = (40, 60)) -> Tuple[str, Dict[str, np.ndarray]]:
    """Write a COCO instances json with known masks; return it and the expected VOC label maps.

    ``root/coco/train2017/*.jpg`` and ``root/coco/annotations/instances_train2017.json`` with
    COCO's real category ids and names for the categories used. Rectangles are polygons with
    corners on pixel edges, so their masks are exact. Image ``a.jpg``: a person (VOC 15) with a
    smaller dog (VOC 12) in front, a truck (no VOC class: background) and a crowd of people
    (RLE: ignored, 255). Image ``b.jpg``: a tv (VOC 20) and a couch (VOC 18) of 60 pixels
    together. Image ``c.jpg``: only a truck (no VOC instance).

    Args:
        root: Folder to write into.
        size: ``(height, width)`` of the images.

    Returns:
        ``(coco_root, expected)`` where ``expected`` maps file names to ``uint8`` label maps
        (``crowd_label=255``, no ``min_area`` filter).
    """
    from pycocotools import mask as mask_utils  # the json's crowd RLE

    height, width = size
    coco = osp.join(root, 'coco')
    os.makedirs(osp.join(coco, 'train2017'), exist_ok=True)
    os.makedirs(osp.join(coco, 'annotations'), exist_ok=True)
    categories = [dict(id=1, name='person'), dict(id=8, name='truck'), dict(id=18, name='dog'),
                  dict(id=63, name='couch'), dict(id=72, name='tv')]
    # (image, category id, (x0, y0, x1, y1) pixel-edge box, iscrowd)
    boxes = [('a.jpg', 1, (5, 5, 35, 35), 0), ('a.jpg', 18, (10, 10, 20, 30), 0),
             ('a.jpg', 8, (40, 0, 60, 10), 0), ('a.jpg', 1, (40, 20, 60, 40), 1),
             ('b.jpg', 72, (0, 0, 5, 4), 0), ('b.jpg', 63, (50, 30, 60, 34), 0),
             ('c.jpg', 8, (0, 0, 30, 30), 0)]
    voc_label = {1: 15, 8: 0, 18: 12, 63: 18, 72: 20}
    images, annotations, expected = [], [], {}
    for img_id, file_name in enumerate(('a.jpg', 'b.jpg', 'c.jpg'), 1):
        images.append(dict(id=img_id, file_name=file_name, height=height, width=width))
        expected[file_name] = np.zeros((height, width), np.uint8)
        cv2.imwrite(osp.join(coco, 'train2017', file_name),
                    np.full((height, width, 3), 30 * img_id, np.uint8))
    for ann_id, (file_name, cat_id, (x0, y0, x1, y1), crowd) in enumerate(boxes, 1):
        img_id = ('a.jpg', 'b.jpg', 'c.jpg').index(file_name) + 1
        area = (x1 - x0) * (y1 - y0)
        if crowd:
            mask = np.zeros((height, width), np.uint8, order='F')
            mask[y0:y1, x0:x1] = 1
            rle = mask_utils.encode(np.asfortranarray(mask))
            segmentation = dict(size=rle['size'], counts=rle['counts'].decode('ascii'))
        else:
            segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]]
        annotations.append(dict(id=ann_id, image_id=img_id, category_id=cat_id,
                                segmentation=segmentation, area=float(area),
                                bbox=[x0, y0, x1 - x0, y1 - y0], iscrowd=crowd))
    # expected maps, painted largest first (the order within a.jpg already is)
    for file_name, cat_id, (x0, y0, x1, y1), crowd in sorted(
            boxes, key=lambda b: -(b[2][2] - b[2][0]) * (b[2][3] - b[2][1])):
        if voc_label[cat_id] or crowd:
            expected[file_name][y0:y1, x0:x1] = 255 if crowd else voc_label[cat_id]
    with open(osp.join(coco, 'annotations', 'instances_train2017.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return coco, expected
