"""Fuse a training checkpoint into a deployed one, checking outputs before writing.

Works for any model an mmpretrain, mmdet or mmseg config builds (classifier, detector,
segmentor) whose backbone takes ``deploy=True``: the train-time model is built from the config
and loaded strictly, fused with :func:`mmmobileone.reparameterize_model`, and its state dict is
loaded strictly into the model built with ``model.backbone.deploy=True``; the two models must
give the same outputs on a random input before anything is written.
"""
import copy
import logging
import os.path as osp
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..fileio import load_checkpoint, save_checkpoint_atomic
from ..models.reparam import (checkpoint_is_fused, fused_checkpoint, needs_fusion,
                              reparameterize_model)
from .model import ConfigLike, init_model, load_config, load_state_dict_strict

logger = logging.getLogger(__name__)


@dataclass
class FuseReport:
    """What :func:`fuse_checkpoint` did.

    Attributes:
        out_file: Path of the deployed checkpoint.
        relative_error: ``max |fused - train-time| / max |train-time|`` over the outputs.
        params_before: Parameters of the train-time model.
        params_after: Parameters of the deployed model.
    """

    out_file: str
    relative_error: float
    params_before: int
    params_after: int


def _flatten(outputs) -> List[Tensor]:
    if isinstance(outputs, Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in _flatten(item)]
    return []


@torch.no_grad()
def _outputs(model: nn.Module, inputs: Tensor) -> List[Tensor]:
    """The network's raw outputs (``mode='tensor'``), else its features (``extract_feat``).

    ``mode='tensor'`` runs backbone, neck and head for classifiers, single-stage detectors and
    segmentors; models whose tensor mode needs data samples (two-stage detectors) fall back to
    the backbone and neck features, which is where fusion acts.
    """
    try:
        outputs = _flatten(model(inputs, mode='tensor'))
    except (TypeError, AttributeError, KeyError, IndexError) as error:
        logger.info('mode="tensor" needs more than an image (%s); comparing extract_feat '
                    'outputs', type(error).__name__)
        outputs = []
    if not outputs:
        outputs = _flatten(model.extract_feat(inputs))
    if not outputs:
        raise ConfigError(f'cannot compare outputs of {type(model).__name__}: neither '
                          'mode="tensor" nor extract_feat returns tensors')
    return outputs


def _relative_error(actual: Sequence[Tensor], expected: Sequence[Tensor]) -> float:
    if len(actual) != len(expected):
        return float('inf')
    error = 0.0
    for a, e in zip(actual, expected):
        if a.shape != e.shape:
            return float('inf')
        scale = e.abs().max().clamp_min(1e-12)
        error = max(error, ((a.float() - e.float()).abs().max() / scale).item())
    return error


def _num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fuse_checkpoint(config: ConfigLike,
                    checkpoint: str,
                    out_file: str,
                    input_shape: Tuple[int, int] = (224, 224),
                    tolerance: float = 1e-4,
                    seed: int = 0) -> FuseReport:
    """Fuse a training checkpoint of ``config``'s model and write the deployed checkpoint.

    Args:
        config: The training config, file or :class:`Config` (``model.backbone.deploy`` false).
        checkpoint: Training checkpoint (mmengine's ``dict(state_dict=..., meta=...)`` or a
            plain state dict). With EMAHook, its ``state_dict`` already holds the EMA weights.
        out_file: Where to write ``dict(meta=..., state_dict=fused)``; the training meta
            (``dataset_meta``, epoch, config text) is kept, with ``deploy=True`` added.
        input_shape: ``(H, W)`` of the random input used to compare the two models.
        tolerance: Largest allowed relative difference between their outputs.
        seed: Seed of that random input.

    Returns:
        A :class:`FuseReport`.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: The checkpoint is corrupt, already fused, or does not match the config;
            the config already builds the fused network; or the outputs differ.
    """
    if osp.abspath(out_file) == osp.abspath(checkpoint):
        raise ConfigError(f'the output file {out_file!r} is the input checkpoint; write the '
                          'deployed checkpoint to another file')
    config = load_config(config)
    backbone = config.model.get('backbone')
    if not backbone:
        raise ConfigError('the config has no model.backbone; only models with a MobileOne '
                          '(re-parameterizable) backbone can be converted')
    if backbone.get('deploy', False):
        raise ConfigError('the config builds the fused network (model.backbone.deploy=True); '
                          'pass the training config, with deploy=False')
    ckpt = load_checkpoint(checkpoint)
    if checkpoint_is_fused(ckpt):
        raise CheckpointError(f'{checkpoint!r} is already fused (deployed): nothing to convert; '
                              'use it with model.backbone.deploy=True')

    try:
        model = init_model(config, ckpt, fuse=False)
    except ValueError as error:
        raise CheckpointError(f'{checkpoint!r}: {error}') from error
    if not needs_fusion(model):
        raise ConfigError(f'the model of the config has nothing to fuse ({type(model).__name__}'
                          ' without re-parameterizable modules)')
    fused = reparameterize_model(model).eval()

    deploy_cfg = copy.deepcopy(config)
    deploy_cfg.model.backbone.deploy = True
    deployed = init_model(deploy_cfg, fuse=False)
    load_state_dict_strict(deployed, fused.state_dict(), 'the fused state dict')

    inputs = torch.randn(1, 3, *input_shape, generator=torch.Generator().manual_seed(seed))
    error = _relative_error(_outputs(deployed, inputs), _outputs(model, inputs))
    if not error <= tolerance:
        raise CheckpointError(f'the deployed model does not reproduce the training model: '
                              f'relative output error {error:.3g} > tolerance {tolerance:g}; '
                              'nothing written')

    meta = dict(ckpt.get('meta') or {})
    meta['converted_from'] = osp.basename(checkpoint)
    save_checkpoint_atomic(fused_checkpoint(deployed, meta), out_file)
    return FuseReport(out_file=out_file, relative_error=error,
                      params_before=_num_params(model), params_after=_num_params(deployed))
