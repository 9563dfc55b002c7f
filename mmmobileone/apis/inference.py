"""The image demo: our (fused) model, drawn by the host library's own inferencer.

We build the model once with :func:`~mmmobileone.apis.init_model` (strict loading, fusion,
fused ``deploy.pth`` recognised, ``cfg`` and ``dataset_meta`` set) and hand it to the inferencer
of the config's ``default_scope``:

* ``mmpretrain``: :class:`mmpretrain.apis.ImageClassificationInferencer` takes a model instance;
  a subclass draws the top-k classes instead of the best one only;
* ``mmdet``: :class:`mmdet.apis.DetInferencer`, and ``mmseg``:
  :class:`mmseg.apis.MMSegInferencer` are mmengine ``BaseInferencer`` subclasses, which build
  their model in ``_init_model(cfg, weights, device)``; a mixin overrides that one method to
  return our model (the config passed on is the model's own ``cfg``).

Their test pipelines (image loading from the input, annotation loading left out), visualizers
(palettes, label drawing) and picture writing do the work. This module collects the inputs,
skips (and reports) the files that cannot be decoded, and lists what was written.
"""
import copy
import glob
import logging
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import mmcv
import numpy as np
from torch import nn

from ..engine.config_tree import iter_config_dicts
from ..engine.safeguards import CHECKED_TYPES
from ..errors import ConfigError
from .model import init_model

logger = logging.getLogger(__name__)
#: The checked image loader the configs declare (mmmobileone.integrations.mmcv).
CHECKED_LOAD_IMAGE = CHECKED_TYPES['LoadImageFromFile'][0]

#: Config ``default_scope`` -> task, for the scopes the demo has an inferencer for.
SCOPE_TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}
#: Sub-folder of the output directory the inferencers write their pictures into.
VIS_DIR = 'vis'
#: Classification pictures with a shorter side are enlarged to it, for legible labels.
MIN_CLS_SIDE = 224


class _PrebuiltModel:
    """Mixin for an mmengine ``BaseInferencer`` subclass: infer with a model built elsewhere.

    ``BaseInferencer.__init__(model=cfg, weights=...)`` builds and loads the model in
    ``_init_model``; here the config is the model's own ``cfg`` and ``_init_model`` returns the
    model itself, so the inferencer's pipeline, visualizer and writing see exactly our network.
    The visualizer only draws: the config's storage backends (``vis_backends``) are left out.
    """

    def __init__(self, model: nn.Module, **kwargs) -> None:
        self._prebuilt = model
        cfg = inferencer_config(model.cfg)
        if cfg.get('visualizer') is not None:
            cfg.visualizer.pop('vis_backends', None)
        super().__init__(model=cfg, weights=None, **kwargs)

    def _init_model(self, cfg, weights, device: str = 'cpu') -> nn.Module:
        return self._prebuilt.to(device).eval()


def inferencer_config(cfg):
    """A copy of ``cfg`` whose test pipeline loads images with the host's ``LoadImageFromFile``.

    The configs declare mmmobileone's checked loader (``mmmobileone.LoadImageFromFile``), but
    mmpretrain's, mmdet's and mmseg's inferencers find the loader by the host's type name and
    replace it with their own (they read images already in memory, so there is no file for the
    checked loader to check); with our type they would fail.
    """
    cfg = copy.deepcopy(cfg)
    for _, node in iter_config_dicts(cfg.get('test_dataloader'), 'test_dataloader'):
        if node.get('type') == CHECKED_LOAD_IMAGE:
            node['type'] = 'LoadImageFromFile'
    return cfg


def _seg_dataset_meta(meta: Dict) -> Dict:
    """``classes`` and a ``palette`` of as many colours: mmseg's visualizer takes exactly these.

    A palette that does not fit the classes (missing in a hand-made checkpoint's meta) is
    completed as mmseg's datasets do (:class:`mmseg.datasets.BaseSegDataset`, seeded colours).
    """
    from mmseg.datasets import BaseSegDataset  # mmseg: imported only for its models
    classes = meta.get('classes')
    if not classes:
        raise ConfigError(f'the model has no class names to draw (dataset_meta {meta!r}); save '
                          "them in the checkpoint's meta.dataset_meta or the config's dataset")
    metainfo = dict(classes=classes, palette=meta.get('palette') or [])
    palette = BaseSegDataset(metainfo=metainfo, lazy_init=True).metainfo['palette']
    return dict(classes=classes, palette=palette)


def build_inferencer(model: nn.Module, device: str = 'cpu'):
    """The host library's inferencer around ``model`` (as :func:`init_model` returns it).

    Args:
        model: A model with ``cfg`` (its config) and ``dataset_meta`` (class names).
        device: Torch device to infer on.

    Returns:
        ``ImageClassificationInferencer`` (with a ``topk`` drawing option), ``DetInferencer``
        or ``MMSegInferencer``, from the config's ``default_scope``. For segmentation the
        model's ``dataset_meta`` is narrowed to ``classes`` and ``palette``, as
        ``MMSegInferencer`` loads it.

    Raises:
        ValueError: the config's ``default_scope`` is none of ``mmpretrain``, ``mmdet``,
            ``mmseg``, or a segmentation model has no class names.
    """
    scope = model.cfg.get('default_scope')
    if scope == 'mmpretrain':
        from mmpretrain.apis import ImageClassificationInferencer  # mmpretrain: for its models

        class TopkClassificationInferencer(ImageClassificationInferencer):
            """Draws the ``topk`` best classes with their scores (mmpretrain draws the best)."""
            visualize_kwargs = ImageClassificationInferencer.visualize_kwargs | {'topk'}

            def visualize(self, ori_inputs, preds, topk: int = 1, **kwargs):
                shown = []
                for pred in preds:
                    sample = pred.clone()
                    scores = sample.pred_score
                    sample.set_pred_label(scores.topk(min(topk, scores.numel())).indices)
                    shown.append(sample)
                return super().visualize(ori_inputs, shown, **kwargs)

        if not hasattr(model, '_config'):  # where mmpretrain keeps a model instance's config
            model._config = inferencer_config(model.cfg)
        return TopkClassificationInferencer(model, pretrained=False, device=device,
                                            classes=model.dataset_meta.get('classes'))
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer  # mmdet: imported only for its models
        return type('FusedDetInferencer', (_PrebuiltModel, DetInferencer), {})(
            model, device=device, show_progress=False)
    if scope == 'mmseg':
        from mmseg.apis import MMSegInferencer  # mmseg: imported only for its models
        model.dataset_meta = _seg_dataset_meta(model.dataset_meta)
        inferencer = type('FusedSegInferencer', (_PrebuiltModel, MMSegInferencer), {})(
            model, device=device)
        inferencer.show_progress = False
        return inferencer
    raise ConfigError(f'config default_scope {scope!r} is not supported; the demo handles '
                      f'{sorted(SCOPE_TASKS)} configs')


def collect_images(inputs: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Expand files, folders (their files, sorted, not recursive) and glob patterns.

    Args:
        inputs: File paths, folder paths and glob patterns (``**`` recurses).

    Returns:
        ``(files, missing)``: the files to try (each once, in input order), and the inputs that
        matched nothing.
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
    """The image as BGR ``uint8``, decoded as the inferencers decode it (``mmcv.imfrombytes``).

    Returns:
        ``None`` when the file is empty or cannot be decoded as an image.
    """
    with open(path, 'rb') as file:
        content = file.read()
    if not content:
        return None
    return mmcv.imfrombytes(content)


@dataclass
class DemoReport:
    """What the demo did: pictures written and inputs skipped (with the reason)."""
    written: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)


def _picture_name(scope: str, path: str) -> str:
    """The file name the scope's inferencer gives the picture of ``path``."""
    if scope == 'mmpretrain':
        return osp.splitext(osp.basename(path))[0] + '.png'
    return osp.basename(path)


def _draw(inferencer, scope: str, path: str, image: np.ndarray, target: str, score_thr: float,
          topk: int, opacity: float) -> str:
    """Let the inferencer predict ``path`` and write its picture under ``target``/vis."""
    vis_dir = osp.join(target, VIS_DIR)
    out_file = osp.join(vis_dir, _picture_name(scope, path))
    os.makedirs(vis_dir, exist_ok=True)
    if osp.isfile(out_file):  # from an earlier run: it must be this run's picture
        os.remove(out_file)
    if scope == 'mmdet':  # DetInferencer writes out_dir/vis/<name>
        inferencer(path, out_dir=target, pred_score_thr=score_thr)
    elif scope == 'mmseg':  # out_dir/vis/<name>; returning samples writes no label maps
        inferencer(path, out_dir=target, opacity=opacity, return_datasamples=True)
    else:
        short = min(image.shape[:2])
        inferencer(path, show_dir=vis_dir, topk=topk,
                   resize=MIN_CLS_SIDE if short < MIN_CLS_SIDE else None)
    if not osp.isfile(out_file):
        raise RuntimeError(f'the {scope} inferencer wrote no picture {out_file!r} for {path!r}')
    return out_file


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
    """Predict every readable image among ``inputs`` and write a picture of it.

    The host library's inferencer (see :func:`build_inferencer`) draws and writes the pictures
    into ``out_dir/vis/``, named as it names them (the input's file name; ``.png`` for
    classification). An input whose picture name an earlier input already took goes into
    ``out_dir/<n>/vis/``. Inputs that do not exist, and files that cannot be decoded as images
    (corrupt, empty, not images at all), are logged and listed in the report's ``skipped``; the
    run goes on with the next file.

    Args:
        inputs: Image files, folders and glob patterns.
        config: Config file (mmpretrain, mmdet or mmseg ``default_scope``), or a model name
            of the zoo (:func:`~mmmobileone.apis.load_config`).
        checkpoint: Training or fused (``deploy.pth``) checkpoint; ``None`` for random weights.
        out_dir: Where the pictures go.
        device: Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.
        fuse: Infer with the re-parameterized network (``False``: the train-time one).
        score_thr: Detection: draw the boxes scoring at least this.
        topk: Classification: how many classes (with scores) to draw, at least 1.
        opacity: Segmentation: mask opacity in ``[0, 1]``.
        cfg_options: Config overrides, as ``--cfg-options``.

    Returns:
        The pictures written and the inputs skipped with the reason.

    Raises:
        ValueError: ``topk`` or ``opacity`` is out of range, the config's scope is not
            supported, or the checkpoint does not fit the config.
        FileNotFoundError: the config or checkpoint does not exist.
    """
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ConfigError(f'topk must be an integer >= 1, got {topk!r}')
    if not 0.0 <= opacity <= 1.0:
        raise ConfigError(f'opacity must be in [0, 1], got {opacity!r}')
    files, missing = collect_images(inputs)
    report = DemoReport(skipped=[(item, 'no such file, folder or glob match')
                                 for item in missing])
    for item in missing:
        logger.warning(f'skipped {item!r}: no such file, folder or glob match')
    model = init_model(config, checkpoint, device=device, fuse=fuse,
                       cfg_options=cfg_options)
    scope = model.cfg.get('default_scope')
    inferencer = build_inferencer(model, device)
    logger.info(f'{SCOPE_TASKS[scope]} demo on {len(files)} file(s) with the '
                f"{'fused' if fuse else 'train-time'} model; writing to {out_dir}")
    taken: Set[str] = set()
    for path in files:
        image = read_image(path)
        if image is None:
            reason = 'cannot be decoded as an image (corrupt, empty or not an image)'
            logger.warning(f'skipped {path!r}: {reason}')
            report.skipped.append((path, reason))
            continue
        name, target, n = _picture_name(scope, path), out_dir, 1
        while osp.join(target, name) in taken:
            target, n = osp.join(out_dir, str(n)), n + 1
        taken.add(osp.join(target, name))
        out_file = _draw(inferencer, scope, path, image, target, score_thr, topk, opacity)
        report.written.append(out_file)
        logger.info(f'{path} -> {out_file}')
    logger.info(f'wrote {len(report.written)} picture(s); skipped {len(report.skipped)} '
                'input(s)')
    return report
