"""Convert a training checkpoint into a deployed (fused) one, checking outputs before writing.

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
from typing import Dict, List, Sequence, Tuple

import torch
from mmengine.config import Config
from torch import Tensor, nn

from ..models.reparam import reparameterize_model
from ..utils.checks import checkpoint_is_fused, load_checkpoint_file
from ..utils.deploy import deploy_checkpoint, needs_fusion, save_checkpoint_atomic

logger = logging.getLogger(__name__)


@dataclass
class ConversionReport:
    """What :func:`convert_checkpoint` did.

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


def build_model_from_config(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` the way mmengine's Runner does, in the config's default scope.

    Imports the config's ``custom_imports`` and merges a top-level ``data_preprocessor``.
    """
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    if cfg.get('default_scope'):
        init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return MODELS.build(model_cfg)


def _describe_mismatch(model: nn.Module, state_dict: Dict[str, Tensor]) -> List[str]:
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f'{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}' for k, v in expected.items()
        if k in state_dict and hasattr(state_dict[k], 'shape') and state_dict[k].shape != v.shape
    ]
    for name, items in (('missing', missing), ('unexpected', unexpected),
                        ('shape mismatch (checkpoint vs model)', shapes)):
        if items:
            more = f' and {len(items) - 3} more' if len(items) > 3 else ''
            problems.append(f'{len(items)} {name}: {", ".join(items[:3])}{more}')
    return problems


def _load_strict(model: nn.Module, state_dict: Dict[str, Tensor], what: str) -> None:
    problems = _describe_mismatch(model, state_dict)
    if problems:
        raise ValueError(f'{what} does not match the model the config builds '
                         f'({"; ".join(problems)}); pass the config it was trained with')
    model.load_state_dict(state_dict, strict=True)


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
        raise ValueError(f'cannot compare outputs of {type(model).__name__}: neither '
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


def convert_checkpoint(config: Config,
                       checkpoint: str,
                       out_file: str,
                       input_shape: Tuple[int, int] = (224, 224),
                       tolerance: float = 1e-4,
                       seed: int = 0) -> ConversionReport:
    """Fuse a training checkpoint of ``config``'s model and write the deployed checkpoint.

    Args:
        config: The training config (``model.backbone.deploy`` false).
        checkpoint: Training checkpoint (mmengine's ``dict(state_dict=..., meta=...)`` or a
            plain state dict). With EMAHook, its ``state_dict`` already holds the EMA weights.
        out_file: Where to write ``dict(meta=..., state_dict=fused)``; the training meta
            (``dataset_meta``, epoch, config text) is kept, with ``deploy=True`` added.
        input_shape: ``(H, W)`` of the random input used to compare the two models.
        tolerance: Largest allowed relative difference between their outputs.
        seed: Seed of that random input.

    Returns:
        A :class:`ConversionReport`.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: The checkpoint is corrupt, already fused, or does not match the config;
            the config already builds the fused network; or the outputs differ.
    """
    if osp.abspath(out_file) == osp.abspath(checkpoint):
        raise ValueError(f'the output file {out_file!r} is the input checkpoint; write the '
                         'deployed checkpoint to another file')
    backbone = config.model.get('backbone')
    if not backbone:
        raise ValueError('the config has no model.backbone; only models with a MobileOne '
                         '(re-parameterizable) backbone can be converted')
    if backbone.get('deploy', False):
        raise ValueError('the config builds the fused network (model.backbone.deploy=True); '
                         'pass the training config, with deploy=False')
    ckpt = load_checkpoint_file(checkpoint)
    if checkpoint_is_fused(ckpt):
        raise ValueError(f'{checkpoint!r} is already fused (deployed): nothing to convert; use '
                         'it with model.backbone.deploy=True')
    state_dict = ckpt.get('state_dict', ckpt)

    model = build_model_from_config(config).eval()
    _load_strict(model, state_dict, f'checkpoint {checkpoint!r}')
    if not needs_fusion(model):
        raise ValueError(f'the model of the config has nothing to fuse ({type(model).__name__}'
                         ' without re-parameterizable modules)')
    fused = reparameterize_model(model).eval()

    deploy_cfg = copy.deepcopy(config)
    deploy_cfg.model.backbone.deploy = True
    deployed = build_model_from_config(deploy_cfg).eval()
    _load_strict(deployed, fused.state_dict(), 'the fused state dict')

    inputs = torch.randn(1, 3, *input_shape, generator=torch.Generator().manual_seed(seed))
    error = _relative_error(_outputs(deployed, inputs), _outputs(model, inputs))
    if not error <= tolerance:
        raise ValueError(f'the deployed model does not reproduce the training model: relative '
                         f'output error {error:.3g} > tolerance {tolerance:g}; nothing written')

    meta = dict(ckpt.get('meta') or {})
    meta['converted_from'] = osp.basename(checkpoint)
    save_checkpoint_atomic(deploy_checkpoint(deployed, meta), out_file)
    return ConversionReport(out_file=out_file, relative_error=error,
                            params_before=_num_params(model), params_after=_num_params(deployed))
