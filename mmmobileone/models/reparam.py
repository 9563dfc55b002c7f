"""The fused (deployed) form: fusing models, recognising fused models, state dicts and checkpoints.

This module is the one place that knows what "fused" means:

* :func:`reparameterize_model` fuses every re-parameterizable module of a model (a deep copy),
  duck-typed like timm's: any module with a ``switch_to_deploy``, ``reparameterize`` or ``fuse``
  method (MobileOne units and backbones, mmpretrain's RepVGG, re-parameterizable necks or heads);
  a method that returns a new module replaces the module in its parent, as timm's ``fuse()``.
* :func:`needs_fusion` says whether a model still has unfused modules.
* :func:`state_dict_form` / :func:`checkpoint_is_fused` read the form off a state dict by the
  parameter names of a MobileOne unit, and :func:`check_checkpoint_form` turns a mismatch between
  a checkpoint and the model a config builds into a clear error.
* :func:`fused_checkpoint` builds the ``deploy.pth`` format (``dict(meta, state_dict)``) that
  :class:`~mmmobileone.ReparamHook` and the re-parameterization converter write.
"""
import copy
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmengine.model import is_model_wrapper
from torch import nn

from ..errors import CheckpointError
from ..version import __version__

#: Name of a fused unit's convolution (mmpretrain's, kept for checkpoint compatibility).
FUSED_CONV = 'branch_reparam'
#: Name of a train-time unit's list of conv-BN branches.
TRAIN_BRANCHES = 'branch_conv_list'
#: The parameter whose presence marks a fused unit in a state dict.
FUSED_KEY_SUFFIX = f'{FUSED_CONV}.weight'
#: The parameter whose presence marks a train-time unit in a state dict.
TRAIN_KEY_SUFFIX = f'{TRAIN_BRANCHES}.0.conv.weight'
#: Methods that fuse a module, in the order they are looked for. Each either fuses the module in
#: place and returns ``None`` (or the module itself), or returns the fused module that replaces it
#: (timm's ``fuse()`` convention).
FUSE_METHODS = ('switch_to_deploy', 'reparameterize', 'fuse')
#: Attributes that mark a module as fused (``deploy``: ours, mmpretrain; ``inference_mode``:
#: timm; the last is set by :func:`reparameterize_model` on modules without either).
FUSED_FLAGS = ('deploy', 'inference_mode', '_mmmobileone_fused')


def _fuse_method_name(module: nn.Module) -> Optional[str]:
    for name in FUSE_METHODS:
        if callable(getattr(module, name, None)):
            return name
    return None


def _is_fused(module: nn.Module) -> bool:
    return any(bool(getattr(module, flag, False)) for flag in FUSED_FLAGS)


def _unwrap(model: nn.Module) -> nn.Module:
    if is_model_wrapper(model) or isinstance(model, nn.parallel.DistributedDataParallel):
        return model.module
    return model


def needs_fusion(model: nn.Module) -> bool:
    """Whether ``model`` holds a re-parameterizable module that is not fused yet."""
    return any(
        _fuse_method_name(module) is not None and not _is_fused(module)
        for module in _unwrap(model).modules())


def _fuse_one(module: nn.Module) -> nn.Module:
    """Fuse ``module`` if it is re-parameterizable and not fused yet; return what replaces it.

    Returns ``module`` itself when it fused in place (its method returned ``None`` or
    ``module``), or has nothing to fuse; otherwise the module its method returned.
    """
    name = _fuse_method_name(module)
    if name is None or _is_fused(module):
        return module
    result = getattr(module, name)()
    if result is None:
        result = module
    elif not isinstance(result, nn.Module):
        raise TypeError(
            f'{type(module).__name__}.{name}() returned {type(result).__name__}; expected None '
            '(fused in place) or the fused nn.Module that replaces it')
    elif result is not module:
        result.train(module.training)  # the copy keeps the train/eval mode of the input
    # A module that can still be fused but has no flag of its own is marked, so that fusing
    # twice is a no-op and needs_fusion() sees it as fused.
    if (_fuse_method_name(result) is not None
            and not any(hasattr(result, flag) for flag in FUSED_FLAGS[:2])):
        result._mmmobileone_fused = True
    return result


def _fuse_tree(module: nn.Module, done: Dict[int, Tuple[nn.Module, nn.Module]]) -> nn.Module:
    """Fuse ``module`` and then, recursively, its (new) children; return what replaces it.

    ``done`` maps ``id`` of each module already visited to ``(module, replacement)``, so that a
    module shared by several parents is fused once and every parent gets the same replacement.
    """
    key = id(module)
    if key in done:
        return done[key][1]
    replacement = _fuse_one(module)
    done[key] = (module, replacement)  # keeps `module` alive, so its id is not reused
    for child_name, child in list(replacement.named_children()):
        new_child = _fuse_tree(child, done)
        if new_child is not child:
            setattr(replacement, child_name, new_child)
    return replacement


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Return a fused deep copy of ``model``; ``model`` itself is left untouched.

    Every submodule with a ``switch_to_deploy``, ``reparameterize`` or ``fuse`` method (the
    first of these it has) that is not fused yet is fused, outermost first, so this works on a
    bare backbone, a classifier, a detector or a segmentor, including re-parameterizable necks
    and heads. As in timm's ``reparameterize_model``, a method may fuse its module in place and
    return ``None`` (our MobileOne units and backbones, mmpretrain's RepVGG), or return a new
    module, which then replaces the old one in its parent (``setattr(parent, name, fused)``; for
    ``model`` itself, the new module is returned). A module that can still be fused but has no
    ``deploy`` / ``inference_mode`` flag is marked fused afterwards. A DDP / mmengine model
    wrapper is unwrapped first. The copy keeps the device, dtype and train/eval mode of the
    input; fusing an already fused model is a no-op.

    Args:
        model: The model to fuse (not modified).

    Returns:
        The fused copy.

    Raises:
        TypeError: a fuse method returned something other than ``None`` or an ``nn.Module``.

    Example:
        >>> import torch
        >>> from mmmobileone import MobileOne
        >>> model = MobileOne('s0').eval()
        >>> fused = reparameterize_model(model)
        >>> fused.deploy, model.deploy
        (True, False)
    """
    fused = copy.deepcopy(_unwrap(model))
    with torch.no_grad():
        return _fuse_tree(fused, {})


def state_dict_form(state_dict: Mapping[str, object]) -> str:
    """``'fused'``, ``'unfused'`` or ``'none'`` (no MobileOne unit), from the parameter names."""
    if any(key.endswith(FUSED_KEY_SUFFIX) for key in state_dict):
        return 'fused'
    if any(key.endswith(TRAIN_KEY_SUFFIX) for key in state_dict):
        return 'unfused'
    return 'none'


def checkpoint_is_fused(checkpoint: Mapping) -> bool:
    """Whether a checkpoint (``dict(state_dict=...)`` or a plain state dict) is fused."""
    return state_dict_form(checkpoint.get('state_dict', checkpoint)) == 'fused'


def check_checkpoint_form(checkpoint: Mapping, deploy: bool, what: str) -> None:
    """Refuse a checkpoint whose form does not fit a model built with ``deploy``.

    Args:
        checkpoint: The loaded checkpoint (or state dict).
        deploy: Whether the config builds the fused backbone (``model.backbone.deploy``).
        what: How to name the checkpoint in the message, e.g. ``"checkpoint 'a.pth'"``.

    Raises:
        ValueError: a fused checkpoint for a train-time model, or the reverse.
    """
    form = state_dict_form(checkpoint.get('state_dict', checkpoint))
    if form == 'fused' and not deploy:
        raise CheckpointError(
            f'{what} is a fused (deployed) checkpoint but the config builds the train-time '
            'network: add --cfg-options model.backbone.deploy=True, or use the training '
            'checkpoint instead')
    if form == 'unfused' and deploy:
        raise CheckpointError(
            f'{what} is a train-time (unfused) checkpoint but the config builds the fused '
            'network (model.backbone.deploy=True): drop deploy=True, or convert it with '
            'tools/model_converters/reparameterize.py')


def fused_checkpoint(fused_model: nn.Module, meta: Optional[Dict] = None) -> Dict:
    """Build ``dict(meta=..., state_dict=...)`` for a fused model (tensors on the CPU).

    ``meta`` is copied and completed with ``deploy=True`` and the mmmobileone version; keep the
    training checkpoint's ``dataset_meta`` in it so that inference APIs find the class names.

    Raises:
        ValueError: the model is not fused, or a weight is not finite (NaN or infinite).
    """
    if needs_fusion(fused_model):
        raise CheckpointError('fused_checkpoint expects a fused model; fuse it first with '
                              'mmmobileone.reparameterize_model')
    state_dict = {k: v.detach().cpu() for k, v in fused_model.state_dict().items()}
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise CheckpointError(f'refusing to write a deployed checkpoint with non-finite weights '
                              f'({len(bad)} tensors, e.g. {bad[0]!r}): training diverged')
    meta = dict(meta or {})
    meta.update(deploy=True, mmmobileone_version=__version__)
    return dict(meta=meta, state_dict=state_dict)
