"""The deployed (fused) checkpoint format shared by ReparamHook and the converter."""
import os
import os.path as osp
import tempfile
from typing import Dict, Optional

import torch
from torch import nn

from ..version import __version__


def needs_fusion(model: nn.Module) -> bool:
    """Whether ``model`` holds a re-parameterizable module that is not fused yet.

    Duck-typed like :func:`mmmobileone.reparameterize_model`: a module with a
    ``switch_to_deploy`` method and ``deploy`` attribute that is false.
    """
    return any(
        callable(getattr(module, 'switch_to_deploy', None))
        and not getattr(module, 'deploy', False) for module in model.modules())


def deploy_checkpoint(fused_model: nn.Module, meta: Optional[Dict] = None) -> Dict:
    """Build ``dict(meta=..., state_dict=...)`` for a fused model (tensors on the CPU).

    ``meta`` is copied and completed with ``deploy=True`` and the mmmobileone version; keep the
    training checkpoint's ``dataset_meta`` in it so that inference APIs find the class names.
    """
    if needs_fusion(fused_model):
        raise ValueError('deploy_checkpoint expects a fused model; fuse it first with '
                         'mmmobileone.reparameterize_model')
    meta = dict(meta or {})
    meta.update(deploy=True, mmmobileone_version=__version__)
    state_dict = {k: v.detach().cpu() for k, v in fused_model.state_dict().items()}
    return dict(meta=meta, state_dict=state_dict)


def save_checkpoint_atomic(checkpoint: Dict, path: str) -> None:
    """Write a checkpoint atomically: the file appears complete or not at all.

    It is written to a temporary file in the same folder, then renamed; a failure removes the
    temporary file and leaves ``path`` as it was.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix='.part')
    os.close(handle)
    try:
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)
