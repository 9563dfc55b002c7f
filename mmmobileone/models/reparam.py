"""Whole-model re-parameterization."""
import copy

import torch
from mmengine.model import is_model_wrapper
from torch import nn


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Return a fused deep copy of ``model``; ``model`` itself is left untouched.

    Every submodule with a ``switch_to_deploy`` method (MobileOne units and backbones, and other
    re-parameterizable blocks such as mmpretrain's RepVGG) is fused, so this works on a bare
    backbone, a classifier, a detector or a segmentor. A DDP / mmengine model wrapper is
    unwrapped first. The copy keeps the device, dtype and train/eval mode of the input; fusing
    an already fused model is a no-op.

    Example:
        >>> import torch
        >>> from mmmobileone import MobileOne
        >>> model = MobileOne('s0').eval()
        >>> fused = reparameterize_model(model)
        >>> fused.deploy, model.deploy
        (True, False)
    """
    if is_model_wrapper(model) or isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    fused = copy.deepcopy(model)
    fusable = [m for m in fused.modules() if callable(getattr(m, 'switch_to_deploy', None))]
    with torch.no_grad():
        for module in fusable:
            module.switch_to_deploy()
    return fused
