"""Tensor-in, tensors-out views of OpenMMLab models, for ONNX export, MAC counts and timing.

Each wrapper runs the network only (no data preprocessing, no post-processing), exactly what the
exported ONNX graph computes:

* classification (mmpretrain ``ImageClassifier``, or any ``nn.Module`` returning logits):
  ``logits`` of shape ``(N, num_classes)``;
* detection (mmdet single-stage detectors such as SSDLite): the head's raw outputs per feature
  level, ``cls_score_{i}`` ``(N, A_i * C, H_i, W_i)`` then ``bbox_pred_{i}``
  ``(N, A_i * 4, H_i, W_i)``; anchors, box decoding and NMS stay outside (docs/deployment.md);
* segmentation (mmseg ``EncoderDecoder``): ``seg_logits`` ``(N, num_classes, H, W)``, resized
  to the input size as mmseg does before its argmax.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError

TASKS = ('classification', 'detection', 'segmentation')

#: Default input ``(H, W)`` per task, the one place the exports, the parity report and the
#: MAC counts take it from: ImageNet 224, SSDLite 320, DeepLabV3 crop 512.
DEFAULT_SIZES = dict(classification=(224, 224), detection=(320, 320),
                     segmentation=(512, 512))


def infer_task(model: nn.Module) -> str:
    """``'detection'`` for models with a ``bbox_head``, ``'segmentation'`` with a
    ``decode_head``, ``'classification'`` otherwise."""
    if hasattr(model, 'bbox_head'):
        return 'detection'
    if hasattr(model, 'decode_head'):
        return 'segmentation'
    return 'classification'


class ClassifierOutputs(nn.Module):
    """``x -> logits`` for an mmpretrain classifier (``mode='tensor'``) or a plain module."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        if hasattr(self.model, 'extract_feat'):
            out = self.model(x, mode='tensor')
        else:
            out = self.model(x)
        if isinstance(out, (tuple, list)):  # a classifier without head returns features
            out = out[-1]
        return out

    def output_names(self, num_outputs: int) -> List[str]:
        return ['logits'] if num_outputs == 1 else [f'output_{i}' for i in range(num_outputs)]


class DetectorOutputs(nn.Module):
    """``x -> (cls_score_0, ..., cls_score_{L-1}, bbox_pred_0, ..., bbox_pred_{L-1})``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        head_outputs = self.model._forward(x)
        flat: List[Tensor] = []
        for per_level in head_outputs:
            flat.extend(per_level)
        return tuple(flat)

    def output_names(self, num_outputs: int) -> List[str]:
        levels = num_outputs // 2
        return ([f'cls_score_{i}' for i in range(levels)] +
                [f'bbox_pred_{i}' for i in range(levels)])


class SegmentorOutputs(nn.Module):
    """``x -> seg_logits`` at the input size (``resize=False``: at the head's resolution)."""

    def __init__(self, model: nn.Module, resize: bool = True) -> None:
        super().__init__()
        self.model = model
        self.resize = resize

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model._forward(x)
        if self.resize:
            align_corners = getattr(self.model, 'align_corners', False)
            logits = nn.functional.interpolate(logits, size=x.shape[2:], mode='bilinear',
                                               align_corners=align_corners)
        return logits

    def output_names(self, num_outputs: int) -> List[str]:
        return ['seg_logits']


def tensor_model(model: nn.Module, task: str = 'auto') -> nn.Module:
    """Wrap ``model`` (in eval mode) so that it maps an image batch to its raw output tensors.

    Args:
        model: An mmpretrain / mmdet / mmseg model (or a plain classifier module).
        task: One of :data:`TASKS`, or ``'auto'`` (see :func:`infer_task`).
    """
    task = infer_task(model) if task == 'auto' else task
    wrappers = dict(classification=ClassifierOutputs, detection=DetectorOutputs,
                    segmentation=SegmentorOutputs)
    if task not in wrappers:
        raise ConfigError(f"unknown task {task!r}; choose 'auto' or one of {TASKS}")
    return wrappers[task](model).eval()


def as_tuple(outputs) -> Tuple[Tensor, ...]:
    """Outputs of a wrapper as a tuple of tensors."""
    if isinstance(outputs, Tensor):
        return (outputs, )
    return tuple(outputs)


@torch.no_grad()
def output_names(wrapper: nn.Module, example: Tensor) -> Sequence[str]:
    """Names of the wrapper's outputs (runs it once on ``example``)."""
    return wrapper.output_names(len(as_tuple(wrapper(example))))
