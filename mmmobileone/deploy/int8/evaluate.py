"""Accuracy of exported models through their runtime, on the config's test set.

The runtime computes the network (tensor in, raw tensors out); everything around it is the
libraries' own: the config's test dataloader and data preprocessor before, and after it

* classification: the arg-max of the logits (top-1), compared with the labels and with another
  runtime's predictions (agreement);
* detection: mmdet's ``bbox_head.predict_by_feat`` on the runtime's ``cls_score_i`` /
  ``bbox_pred_i`` (anchors, box decoding, NMS, rescaling as ``tools/test.py`` does them),
  scored by the config's test evaluator (COCO bbox mAP).
"""
import copy
import logging
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner as EngineRunner
from torch import nn

from ..outputs import as_tuple, infer_task

logger = logging.getLogger(__name__)

Runner = Callable[[np.ndarray], List[np.ndarray]]


def test_dataloader(cfg, limit: Optional[int] = None):
    """The config's test dataloader with batch 1, in this process (no workers)."""
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    loader = copy.deepcopy(cfg.test_dataloader)
    loader.update(batch_size=1, num_workers=0, persistent_workers=False)
    if limit:
        loader['dataset']['indices'] = limit
    return EngineRunner.build_dataloader(loader)


def _inputs(model: nn.Module, batch, shape: Sequence[int]):
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs'].float()
    if tuple(inputs.shape[-2:]) != tuple(shape):
        if infer_task(model) == 'detection':
            raise ValueError(f'the test pipeline gives {tuple(inputs.shape[-2:])} inputs, the '
                             f'model was exported for {tuple(shape)}: export at that shape')
        inputs = nn.functional.interpolate(inputs, size=tuple(shape), mode='bilinear',
                                           align_corners=False)
    return inputs.numpy(), data['data_samples']


@torch.no_grad()
def pipeline_input_shape(model: nn.Module) -> tuple:
    """``(H, W)`` of the first test image after the config's test pipeline and the model's data
    preprocessor: the shape ``tools/test.py`` feeds the network."""
    batch = next(iter(test_dataloader(model.cfg, limit=1)))
    return tuple(model.data_preprocessor(batch, False)['inputs'].shape[-2:])


@torch.no_grad()
def classification_predictions(model: nn.Module, runners: Dict[str, Runner],
                               shape: Sequence[int], limit: Optional[int] = None) -> Dict:
    """Top-1 predictions of every runner and the labels over the test set.

    Returns:
        ``{'labels': array, name: array of predicted classes, ...}``.
    """
    found: Dict[str, list] = {name: [] for name in runners}
    labels = []
    for batch in test_dataloader(model.cfg, limit):
        inputs, samples = _inputs(model, batch, shape)
        labels.append(int(samples[0].gt_label[0]))
        for name, run in runners.items():
            found[name].append(int(np.argmax(run(inputs)[0][0])))
    return dict(labels=np.array(labels), **{k: np.array(v) for k, v in found.items()})


def agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Share of images on which two sets of top-1 predictions agree."""
    return float(np.mean(first == second)) if len(first) else 0.0


@torch.no_grad()
def detection_metrics(model: nn.Module, run: Runner, shape: Sequence[int],
                      limit: Optional[int] = None) -> Dict[str, float]:
    """The config's test evaluator (COCO bbox mAP) on the detections decoded from ``run``."""
    loader = test_dataloader(model.cfg, limit)
    evaluator = Evaluator(copy.deepcopy(model.cfg.test_evaluator))
    evaluator.dataset_meta = loader.dataset.metainfo
    for batch in loader:
        inputs, samples = _inputs(model, batch, shape)
        outputs = [torch.from_numpy(np.asarray(o)) for o in run(inputs)]
        levels = len(outputs) // 2
        results = model.bbox_head.predict_by_feat(
            outputs[:levels], outputs[levels:], batch_img_metas=[s.metainfo for s in samples],
            rescale=True)
        samples = model.add_pred_to_datasample(samples, results)
        evaluator.process(data_samples=samples, data_batch=batch)
    return evaluator.evaluate(len(loader.dataset))


def torch_runner(wrapper: nn.Module) -> Runner:
    """PyTorch as a runner (the reference the runtimes are compared with)."""
    def run(x: np.ndarray) -> List[np.ndarray]:
        with torch.no_grad():
            return [t.numpy() for t in as_tuple(wrapper(torch.from_numpy(x)))]
    return run
