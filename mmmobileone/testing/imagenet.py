"""A tiny dataset in ImageNet's on-disk format, for tests and demos.

The layout is the one mmpretrain's ``ImageNet`` dataset reads with ``split='train'`` /
``split='val'`` (the ``data/imagenet`` default)::

    root/
    ├── train/n00000000/n00000000_0.JPEG, ...     one folder per class (WordNet-id style)
    ├── val/ILSVRC2012_val_00000001.JPEG, ...     flat, as the real validation set
    └── meta/
        ├── train.txt    "n00000000/n00000000_0.JPEG 0" per line
        └── val.txt      "ILSVRC2012_val_00000001.JPEG 0" per line

Each class is a coloured shape (circle, square, triangle, cross; then the colours change) at a
random place and size on a noisy background, so a small network can learn it.
"""
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ('circle', 'square', 'triangle', 'cross')
COLOURS = ((230, 40, 40), (40, 200, 60), (50, 90, 230), (240, 210, 40), (200, 60, 220),
           (40, 210, 220))
MAX_CLASSES = len(SHAPES) * len(COLOURS)


def class_name(label: int) -> str:
    """WordNet-id style folder name of class ``label``, e.g. ``'n00000003'``."""
    return f'n{label:08d}'


def draw_sample(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image of class ``label``: its shape in its colour on a noisy background."""
    shape = SHAPES[label % len(SHAPES)]
    colour = np.array(COLOURS[label // len(SHAPES)], dtype=np.int64)
    background = rng.integers(0, 90, size=3)
    pixels = background + rng.integers(-20, 21, size=(size, size, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), 'RGB')
    extent = int(size * rng.uniform(0.45, 0.75))
    x0, y0 = (int(v) for v in rng.integers(0, size - extent + 1, size=2))
    x1, y1 = x0 + extent - 1, y0 + extent - 1
    fill = tuple(int(c) for c in np.clip(colour + rng.integers(-25, 26, size=3), 0, 255))
    draw = ImageDraw.Draw(image)
    if shape == 'circle':
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == 'square':
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif shape == 'triangle':
        draw.polygon(((x0 + x1) // 2, y0, x1, y1, x0, y1), fill=fill)
    else:
        bar = max(2, extent // 4)
        mid_x, mid_y = (x0 + x1) // 2, (y0 + y1) // 2
        draw.rectangle((mid_x - bar // 2, y0, mid_x + bar // 2, y1), fill=fill)
        draw.rectangle((x0, mid_y - bar // 2, x1, mid_y + bar // 2), fill=fill)
    return image


def _write(image: Image.Image, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    image.save(path, format='JPEG', quality=92)


def make_tiny_imagenet(root: str,
                       num_classes: int = 4,
                       train_per_class: int = 8,
                       val_per_class: int = 4,
                       image_size: int = 64,
                       seed: int = 0) -> Dict[str, List[Tuple[str, int]]]:
    """Write a tiny ImageNet-format dataset under ``root`` (see the module docstring).

    Args:
        root: Dataset root, e.g. ``data/imagenet``; created if needed.
        num_classes: Number of classes, at most :data:`MAX_CLASSES`; labels are 0..n-1.
        train_per_class: Training images per class.
        val_per_class: Validation images per class (interleaved by class in ``val/``).
        image_size: Side of the square images in pixels (at least 16).
        seed: Seed of the generator; the same arguments give the same files.

    Returns:
        ``{'train': [(relative path, label), ...], 'val': [...]}`` as written to ``meta/``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     samples = make_tiny_imagenet(tmp, num_classes=2, train_per_class=1,
        ...                                  val_per_class=1, image_size=16)
        >>> samples['val']
        [('ILSVRC2012_val_00000001.JPEG', 0), ('ILSVRC2012_val_00000002.JPEG', 1)]
    """
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [1, {MAX_CLASSES}], got {num_classes!r}')
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError('train_per_class and val_per_class must be >= 1, got '
                         f'{train_per_class!r} and {val_per_class!r}')
    if image_size < 16:
        raise ValueError(f'image_size must be >= 16, got {image_size!r}')
    rng = np.random.default_rng(seed)
    samples: Dict[str, List[Tuple[str, int]]] = {'train': [], 'val': []}
    for label in range(num_classes):
        for i in range(train_per_class):
            name = f'{class_name(label)}/{class_name(label)}_{i}.JPEG'
            _write(draw_sample(label, image_size, rng), osp.join(root, 'train', name))
            samples['train'].append((name, label))
    for i in range(val_per_class * num_classes):
        label = i % num_classes
        name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        _write(draw_sample(label, image_size, rng), osp.join(root, 'val', name))
        samples['val'].append((name, label))
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, entries in samples.items():
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(f'{name} {label}\n' for name, label in entries)
    return samples
