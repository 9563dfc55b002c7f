"""Calibration images for post-training quantization, read through the config's test pipeline.

No labels are needed: every image file under a folder (recursively) is loaded with the config's
own test pipeline (annotation loading dropped) and the model's data preprocessor, exactly as
``tools/test.py`` would feed it, then resized to the export shape if the pipeline gives another
size (fixed-shape runtimes such as ExecuTorch need one shape).
"""
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence

import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from torch import Tensor, nn

from ...errors import DataError, MissingPathError

logger = logging.getLogger(__name__)

#: File name endings read as images (case-insensitive).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursively, sorted).

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a folder.
    """
    if not osp.isdir(folder):
        raise MissingPathError(f'calibration folder {folder!r} does not exist or is not a '
                               'folder')
    found = []
    for parent, _, names in os.walk(folder):
        found += [osp.join(parent, n) for n in names if n.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)


def _leaf_dataset(cfg) -> dict:
    dataset = cfg.get('test_dataloader', cfg.get('val_dataloader', {})).get('dataset', {})
    while 'pipeline' not in dataset and ('dataset' in dataset or 'datasets' in dataset):
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    return dataset


def test_pipeline(cfg) -> list:
    """The config's test pipeline without annotation loading (no labels are needed).

    Raises:
        ValueError: the config has no test (or validation) pipeline.
    """
    pipeline = _leaf_dataset(cfg).get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise ValueError('the config has no test_dataloader.dataset.pipeline (nor '
                         'test_pipeline) to read calibration images with')
    return [t for t in pipeline if 'Annotation' not in str(t.get('type', ''))]


class PipelineReader:
    """Reads images the way the model's test pipeline and data preprocessor do.

    Args:
        model: A model built by :func:`mmmobileone.apis.init_model` (it carries ``cfg``).
        shape: ``(H, W)`` of the exported input; outputs of another size are resized to it
            (bilinear), ``None`` keeps the pipeline's size.
    """

    def __init__(self, model: nn.Module, shape: Optional[Sequence[int]] = None) -> None:
        cfg = model.cfg
        init_default_scope(cfg.get('default_scope', 'mmengine'))
        self.pipeline = Compose(test_pipeline(cfg))
        self.preprocessor = model.data_preprocessor
        self.shape = tuple(shape) if shape else None

    def resize(self, inputs: Tensor) -> Tensor:
        if self.shape and tuple(inputs.shape[-2:]) != self.shape:
            inputs = nn.functional.interpolate(inputs, size=self.shape, mode='bilinear',
                                               align_corners=False)
        return inputs

    @torch.no_grad()
    def read(self, path: str) -> Tensor:
        """``(1, 3, H, W)`` float input of the network for the image at ``path``.

        Raises:
            Exception: whatever the pipeline raises for an unreadable file.
        """
        packed = self.pipeline(dict(img_path=path))
        if packed is None:
            raise ValueError(f'the test pipeline dropped {path}')
        batch = self.preprocessor(dict(inputs=[packed['inputs']],
                                       data_samples=[packed['data_samples']]), False)
        return self.resize(batch['inputs'].float())


def _spread(paths: Sequence[str]) -> List[str]:
    """``paths`` reordered so that any prefix is spread evenly over the sorted list (class
    folders sort by class: the first ``limit`` images must not all be of the first class)."""
    order, seen, step = [], set(), len(paths)
    while step >= 1 and len(order) < len(paths):
        for i in range(0, len(paths), step):
            if i not in seen:
                seen.add(i)
                order.append(paths[i])
        step //= 2
    return order


def calibration_inputs(model: nn.Module, folder: str, shape: Optional[Sequence[int]] = None,
                       limit: int = 64) -> List[Tensor]:
    """Up to ``limit`` network inputs ``(1, 3, H, W)`` from the images under ``folder``.

    The images are taken evenly spread over the sorted file list (every class folder
    contributes); unreadable files are skipped (and counted in the log).

    Raises:
        FileNotFoundError: ``folder`` is missing.
        ValueError: ``folder`` holds no readable image (one line saying what was found).
    """
    paths = list_images(folder)
    reader = PipelineReader(model, shape)
    inputs, failed = [], 0
    for path in _spread(paths):
        if len(inputs) >= limit:
            break
        try:
            inputs.append(reader.read(path))
        except Exception as error:  # a corrupt or non-image file: skip it
            failed += 1
            logger.debug('skipped %s (%s)', path, error)
    if not inputs:
        others = sum(len(files) for _, _, files in os.walk(folder)) - len(paths)
        raise DataError(
            f'no readable images in calibration folder {folder!r} ({len(paths)} image '
            f'file(s), {failed} unreadable; {others} other file(s); looked for '
            f'{", ".join(IMAGE_SUFFIXES)})')
    logger.info('calibration: %d image(s) from %s%s', len(inputs), folder,
                f' ({failed} unreadable skipped)' if failed else '')
    return inputs
