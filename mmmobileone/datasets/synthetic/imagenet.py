"""Synthetic classification data in ImageNet's on-disk format (class folders).

With ``meta=True`` the layout is the one mmpretrain's ``ImageNet`` dataset reads with
``split='train'`` / ``split='val'`` (the ``data/imagenet`` default)::

    root/
    ├── train/n00000000/n00000000_0.JPEG, ...     one folder per class (WordNet-id style)
    ├── val/ILSVRC2012_val_00000001.JPEG, ...     flat, as the real validation set
    └── meta/
        ├── train.txt    "n00000000/n00000000_0.JPEG 0" per line
        └── val.txt      "ILSVRC2012_val_00000001.JPEG 0" per line

With ``meta=False`` both ``train/`` and ``val/`` are class folders and there is no ``meta/``:
mmpretrain's ``CustomDataset`` (or ``ImageNet``) finds the classes from the folder names.

Class ``k`` is one shape of :data:`.shapes.SHAPES` (``k % 8``) in one saturated hue (the
shape's hue, shifted by ``HUE_STEP * (k // 8)``), at a random place, size and rotation on a pale
textured background, so a small network can learn it.
"""
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

from ...errors import ConfigError
from ._output import DatasetFolder
from .shapes import SHAPES, draw_shape_mask, hue_colour, textured_background

#: Hue shift between classes of the same shape (more than twice the hue jitter).
HUE_STEP = 23
#: Colour saturation of the backgrounds (pale: the class is the only vivid colour).
BACKGROUND_SATURATION = 0.3
#: Most classes: every shape in 7 hues.
MAX_CLASSES = len(SHAPES) * (180 // HUE_STEP)


def class_name(label: int) -> str:
    """WordNet-id style folder name of class ``label``.

    Args:
        label: Class index.

    Returns:
        E.g. ``'n00000003'`` for 3.
    """
    return f'n{label:08d}'


def class_appearance(label: int) -> Tuple[str, int]:
    """The ``(shape, hue)`` of class ``label`` (see the module docstring).

    Args:
        label: Class index, below :data:`MAX_CLASSES`.

    Returns:
        A shape name of :data:`.shapes.SHAPES` and an OpenCV hue (0-179).
    """
    shape = list(SHAPES)[label % len(SHAPES)]
    return shape, (SHAPES[shape] + HUE_STEP * (label // len(SHAPES))) % 180


def draw_sample(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One square BGR image of class ``label``: its shape in its hue on a pale background.

    Args:
        label: Class index.
        size: Image side in pixels.
        rng: Source of background, place, size (45-75% of the side), rotation and colour.

    Returns:
        A ``uint8`` array of shape ``(size, size, 3)``.
    """
    shape, hue = class_appearance(label)
    image = textured_background(size, size, rng, saturation=BACKGROUND_SATURATION)
    radius = 0.5 * size * rng.uniform(0.45, 0.75)
    center = tuple(rng.uniform(radius + 1, size - radius - 1, size=2))
    mask = draw_shape_mask(shape, size, size, center, radius, rng)
    image[mask.astype(bool)] = hue_colour(hue, rng)
    return image


def generate_imagenet(root: str = 'data/imagenet',
                      classes: Union[int, Sequence[str]] = 4,
                      train_per_class: int = 8,
                      val_per_class: int = 4,
                      image_size: int = 64,
                      meta: bool = True,
                      seed: int = 0,
                      overwrite: bool = False) -> Dict[str, List[Tuple[str, int]]]:
    """Write a synthetic ImageNet-format dataset under ``root`` (see the module docstring).

    Args:
        root: Dataset root (the config's ``data_root``).
        classes: Number of classes (named :func:`class_name`), or the class folder names; at
            most :data:`MAX_CLASSES`. Labels are 0..n-1 in this order (mmpretrain sorts the
            folder names when it reads ``meta=False`` data: give sorted names to keep them).
        train_per_class: Training images per class.
        val_per_class: Validation images per class (interleaved by class in a flat ``val/``).
        image_size: Side of the square images in pixels (at least 16).
        meta: ImageNet's layout with ``meta/{train,val}.txt`` and a flat ``val/``; if false,
            class folders in ``val/`` too and no ``meta/``.
        seed: Random seed; the same arguments give the same files.
        overwrite: Replace what this generator wrote in ``root`` before.

    Returns:
        ``{'train': [(path relative to the split folder, label), ...], 'val': [...]}`` (what
        ``meta/`` lists, if written).

    Raises:
        ValueError: If an argument is out of range.
        FileExistsError: If ``root`` holds other files, or an earlier output and ``overwrite``
            is false.

    Example:
        >>> import tempfile
        >>> samples = generate_imagenet(tempfile.mkdtemp(), classes=2, train_per_class=1,
        ...                             val_per_class=1, image_size=16)
        >>> samples['val']
        [('ILSVRC2012_val_00000001.JPEG', 0), ('ILSVRC2012_val_00000002.JPEG', 1)]
    """
    names = [class_name(i) for i in range(classes)] if isinstance(classes, int) else list(
        classes)
    if not 1 <= len(names) <= MAX_CLASSES or len(set(names)) != len(names):
        raise ConfigError(f'need 1 to {MAX_CLASSES} distinct classes, got {classes!r}')
    if train_per_class < 1 or val_per_class < 1:
        raise ConfigError('train_per_class and val_per_class must be >= 1, got '
                          f'{train_per_class!r} and {val_per_class!r}')
    if image_size < 16:
        raise ConfigError(f'image_size must be >= 16, got {image_size!r}')
    arguments = dict(classes=names, train_per_class=train_per_class,
                     val_per_class=val_per_class, image_size=image_size, meta=meta, seed=seed)
    rng = np.random.default_rng(seed)
    samples: Dict[str, List[Tuple[str, int]]] = {'train': [], 'val': []}
    with DatasetFolder(root, 'imagenet', arguments, overwrite) as folder:
        for label, name in enumerate(names):
            for i in range(train_per_class):
                path = f'{name}/{name}_{i}.JPEG'
                folder.write_jpeg(f'train/{path}', draw_sample(label, image_size, rng), 92)
                samples['train'].append((path, label))
        for i in range(val_per_class * len(names)):
            label = i % len(names)
            path = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
            if not meta:
                path = f'{names[label]}/{path}'
            folder.write_jpeg(f'val/{path}', draw_sample(label, image_size, rng), 92)
            samples['val'].append((path, label))
        if meta:
            for split, entries in samples.items():
                folder.write_text(f'meta/{split}.txt',
                                  [f'{path} {label}' for path, label in entries])
    return samples
