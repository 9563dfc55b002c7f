"""Synthetic scene-parsing data in ADE20k's release layout (``ADEChallengeData2016``).

``root`` is the ``ADEChallengeData2016`` folder (the configs' ``data_root``)::

    root/
    ├── images/{training,validation}/ADE_{train,val}_00000001.jpg, ...
    └── annotations/{training,validation}/ADE_{train,val}_00000001.png, ...

Annotations are single-channel PNGs with values 0 to ``num_classes``: 0 is ADE20k's "other"
(ignored by mmseg's ``ADE20KDataset`` through ``reduce_zero_label``, which reads class ``k`` as
``k - 1``), 1 to ``num_classes`` are the classes. This is also mmseg's generic layout of an
image folder and a label folder per split (``BaseSegDataset`` with ``data_prefix``), so a
small label set (``num_classes=2``: labels 0, 1, 2) serves as a plain 3-class dataset too.

Each image shows a band of class 1 along the top (ADE20k scenes have large "stuff" regions
such as wall) and three rectangles of random classes (:func:`.shapes.rectangle_scene`).
"""
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from ...errors import ConfigError
from ._output import DatasetFolder
from .shapes import label_colour, rectangle_scene

#: split folder -> file name prefix, as in the release.
SPLITS = {'training': 'ADE_train', 'validation': 'ADE_val'}


def generate_ade20k(root: str = 'data/ade/ADEChallengeData2016',
                    num_train: int = 2,
                    num_val: int = 2,
                    image_size: Tuple[int, int] = (64, 48),
                    num_classes: int = 150,
                    seed: int = 0,
                    overwrite: bool = False) -> Dict[str, List[str]]:
    """Write synthetic ADE20k data under ``root`` (see the module docstring).

    Args:
        root: The ``ADEChallengeData2016`` folder.
        num_train: Images in ``training``.
        num_val: Images in ``validation``.
        image_size: ``(width, height)`` of every image (height at least 6 for the top band).
        num_classes: Labels 1 to ``num_classes`` are drawn (ADE20k: 150), 0 where no object is.
        seed: Random seed; the same arguments give the same files.
        overwrite: Replace what this generator wrote in ``root`` before.

    Returns:
        The image names (without extension) per split folder: ``{'training': [...],
        'validation': [...]}``.

    Raises:
        ValueError: If an argument is out of range.
        FileExistsError: If ``root`` holds other files, or an earlier output and ``overwrite``
            is false.
    """
    width, height = image_size
    if width < 4 or height < 6 or min(num_train, num_val) < 0 or not 1 <= num_classes <= 255:
        raise ConfigError(f'need image_size >= (4, 6), counts >= 0 and 1 <= num_classes <= 255; '
                          f'got {image_size}, {num_train}, {num_val}, {num_classes}')
    arguments = dict(num_train=num_train, num_val=num_val, image_size=[width, height],
                     num_classes=num_classes, seed=seed)
    rng = np.random.default_rng(seed)
    names: Dict[str, List[str]] = {}
    with DatasetFolder(root, 'ade20k', arguments, overwrite) as folder:
        for split, count in zip(SPLITS, (num_train, num_val)):
            names[split] = []
            for i in range(count):
                name = f'{SPLITS[split]}_{i + 1:08d}'
                image, seg = rectangle_scene(height, width, range(1, num_classes + 1), 3, rng)
                seg[:height // 6] = 1
                image[:height // 6] = label_colour(1)
                folder.write_jpeg(f'images/{split}/{name}.jpg', image, quality=100)
                folder.write_png(f'annotations/{split}/{name}.png', Image.fromarray(seg, 'L'))
                names[split].append(name)
    return names
