"""Inference on image files for classification, detection and segmentation configs.

The config's ``default_scope`` (``mmpretrain``, ``mmdet`` or ``mmseg``) decides the task; the
model, test pipeline and visualizer all come from that library, so this module stays a thin
layer: build and load the model (fused by default), run one image through the config's test
pipeline, and draw the prediction with the library's visualizer.
"""
import copy
import glob
import logging
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import VISUALIZERS
from torch import nn

from .model import init_model

logger = logging.getLogger(__name__)

SCOPE_TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


def task_of(cfg: Config) -> str:
    """``'classification'``, ``'detection'`` or ``'segmentation'``, from the default scope."""
    scope = cfg.get('default_scope')
    if scope not in SCOPE_TASKS:
        raise ValueError(f'config default_scope {scope!r} is not supported; the demo handles '
                         f'{sorted(SCOPE_TASKS)} configs')
    return SCOPE_TASKS[scope]


def inference_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without annotation loading (there are no labels)."""
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.get('pipeline', None)
                             or cfg.get('test_pipeline'))
    return Compose([t for t in pipeline if not str(t['type']).endswith('LoadAnnotations')])


def predict(model: nn.Module, pipeline: Compose, image_path: str):
    """Run one image file through the pipeline and the model; returns its data sample."""
    data = pipeline(dict(img_path=image_path, img_id=0))
    with torch.no_grad():
        return model.test_step(pseudo_collate([data]))[0]


def collect_images(inputs: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Expand files, folders (their files, sorted, not recursive) and glob patterns.

    Returns:
        ``(files, missing)``: the files to try, and the inputs that matched nothing.
    """
    files, missing = [], []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(osp.join(item, n) for n in os.listdir(item)
                           if osp.isfile(osp.join(item, n)))
        elif osp.isfile(item):
            found = [item]
        else:
            found = sorted(p for p in glob.glob(item, recursive=True) if osp.isfile(p))
        if not found:
            missing.append(item)
        files.extend(f for f in found if f not in files)
    return files, missing


def read_image(path: str) -> Optional[np.ndarray]:
    """The image as BGR ``uint8``, or ``None`` when the file cannot be decoded as an image."""
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def build_visualizer(model: nn.Module, name: str = 'mmmobileone_demo'):
    """The config's visualizer (drawing only: no storage backends)."""
    vis_cfg = copy.deepcopy(model.cfg.get('visualizer', None))
    if vis_cfg is None:
        raise ValueError('the config has no `visualizer` entry to draw predictions with')
    vis_cfg.pop('vis_backends', None)
    vis_cfg['name'] = f'{name}_{id(model)}'
    visualizer = VISUALIZERS.build(vis_cfg)
    meta = dict(model.dataset_meta)
    classes = meta.get('classes')
    palette = meta.get('palette')
    if classes and (not isinstance(palette, (list, tuple)) or len(palette) != len(classes)):
        if task_of(model.cfg) == 'segmentation':  # mmseg's visualizer needs one colour each
            rng = np.random.default_rng(0)
            meta['palette'] = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in classes]
    visualizer.dataset_meta = meta
    return visualizer


def draw_prediction(visualizer, task: str, image_bgr: np.ndarray, data_sample, out_file: str,
                    score_thr: float = 0.3, topk: int = 5, opacity: float = 0.5) -> np.ndarray:
    """Draw one prediction and write it to ``out_file``; returns the drawn RGB image.

    Detection: boxes with class names and scores above ``score_thr``. Segmentation: a
    coloured mask overlay with ``opacity``. Classification: the ``topk`` classes and scores.
    """
    image = image_bgr[..., ::-1].copy()
    if task == 'detection':
        visualizer.add_datasample('image', image, data_sample, draw_gt=False, show=False,
                                  pred_score_thr=score_thr, out_file=out_file)
    elif task == 'segmentation':
        visualizer.alpha = opacity
        visualizer.add_datasample('image', image, data_sample, draw_gt=False, show=False,
                                  out_file=out_file)
    else:
        scores = data_sample.pred_score
        k = min(topk, scores.numel())
        sample = data_sample.clone()
        sample.set_pred_label(scores.topk(k).indices)
        visualizer.visualize_cls(image, sample, draw_gt=False, draw_score=True,
                                 resize=max(224, min(image.shape[:2])), out_file=out_file)
    return visualizer.get_image()


@dataclass
class DemoReport:
    """What the demo did: pictures written and inputs skipped (with the reason)."""
    written: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)


def _out_name(path: str, out_dir: str, used: set) -> str:
    stem, ext = osp.splitext(osp.basename(path))
    ext = ext.lower() if ext.lower() in IMAGE_EXTENSIONS else '.jpg'
    name, n = f'{stem}{ext}', 1
    while name in used:
        name, n = f'{stem}_{n}{ext}', n + 1
    used.add(name)
    return osp.join(out_dir, name)


def run_demo(inputs: Sequence[str],
             config: str,
             checkpoint: Optional[str],
             out_dir: str,
             device: str = 'cpu',
             fuse: bool = True,
             score_thr: float = 0.3,
             topk: int = 5,
             opacity: float = 0.5,
             cfg_options: Optional[Dict] = None) -> DemoReport:
    """Predict every readable image among ``inputs`` and write a picture of it into ``out_dir``.

    Inputs that do not exist, and files that cannot be decoded as images (corrupt, truncated
    to nothing, or not images at all), are logged and listed in the report's ``skipped``; the
    run goes on with the next file.
    """
    files, missing = collect_images(inputs)
    report = DemoReport(skipped=[(item, 'no such file, folder or glob match')
                                 for item in missing])
    for item in missing:
        logger.warning(f'skipped {item!r}: no such file, folder or glob match')
    model = init_model(config, checkpoint, device=device, fuse=fuse, cfg_options=cfg_options)
    task = task_of(model.cfg)
    pipeline = inference_pipeline(model.cfg)
    visualizer = build_visualizer(model)
    os.makedirs(out_dir, exist_ok=True)
    used: set = set()
    logger.info(f'{task} demo on {len(files)} file(s) with the '
                f"{'fused' if fuse else 'train-time'} model; writing to {out_dir}")
    for path in files:
        image = read_image(path)
        if image is None:
            reason = 'cannot be decoded as an image (corrupt or not an image)'
            logger.warning(f'skipped {path!r}: {reason}')
            report.skipped.append((path, reason))
            continue
        data_sample = predict(model, pipeline, path)
        out_file = _out_name(path, out_dir, used)
        draw_prediction(visualizer, task, image, data_sample, out_file, score_thr, topk,
                        opacity)
        report.written.append(out_file)
        logger.info(f'{path} -> {out_file}')
    logger.info(f'wrote {len(report.written)} picture(s); skipped {len(report.skipped)} '
                'input(s)')
    return report
