"""Build a model from any mmpretrain / mmdet / mmseg config, optionally with a checkpoint."""
import importlib.util
import logging
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn

from ..models.reparam import reparameterize_model
from ..utils import checkpoint_is_fused, load_checkpoint_file

logger = logging.getLogger(__name__)


def resolve_config_path(path: str) -> str:
    """Turn ``'package::relative/path.py'`` into the file shipped in the installed package."""
    if '::' not in path:
        return path
    package, relative = path.split('::', 1)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'config {path!r}: package {package!r} is not installed')
    return osp.join(spec.submodule_search_locations[0], '.mim', 'configs', relative)


def load_config(config, cfg_options: Optional[Dict] = None) -> Config:
    """A :class:`Config` from a path (or a Config), with ``cfg_options`` merged in.

    ``'mmdet::ssd/x.py'``-style paths read the configs shipped inside an installed library.
    """
    if isinstance(config, Config):
        cfg = config.copy()
    else:
        config = resolve_config_path(config)
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config!r} not found (working directory '
                                    f'{os.getcwd()!r})')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _set_backbone_deploy(cfg: Config) -> None:
    backbone = cfg.model.get('backbone')
    if backbone is None or 'MobileOne' not in str(backbone.get('type', '')):
        raise ValueError('the checkpoint is fused (deploy) but the config\'s backbone '
                         f"({backbone.get('type') if backbone else None!r}) is not a MobileOne "
                         'that can be built fused')
    backbone['deploy'] = True


def build_model(config, checkpoint: Optional[str] = None, fuse: bool = True,
                cfg_options: Optional[Dict] = None) -> nn.Module:
    """Build the config's model on CPU in eval mode, load ``checkpoint``, and fuse it.

    Args:
        config: Config path or :class:`Config` (its ``default_scope`` picks the library).
        checkpoint: Weights to load (weights-only), a training checkpoint (unfused) or a deploy
            checkpoint (fused; the backbone is then built with ``deploy=True``). ``None`` keeps
            the initialisation.
        fuse: Return the fused (re-parameterized) model; with ``False`` an unfused checkpoint
            stays unfused.
        cfg_options: Overrides merged into the config.

    Training-only auxiliary heads (mmseg ``auxiliary_head``) are dropped after loading.
    """
    cfg = load_config(config, cfg_options)
    fused_checkpoint = False
    if checkpoint is not None:
        fused_checkpoint = checkpoint_is_fused(load_checkpoint_file(checkpoint))
        if fused_checkpoint:
            if not fuse:
                raise ValueError(f'{checkpoint!r} is fused (deploy); it cannot give the unfused '
                                 'model: pass the training checkpoint instead')
            _set_backbone_deploy(cfg)
    init_default_scope(cfg.get('default_scope', 'mmmobileone'))
    model_cfg = cfg.model.copy()
    model_cfg.pop('pretrained', None)
    model = revert_sync_batchnorm(MODELS.build(model_cfg))  # SyncBN needs a process group
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    if getattr(model, 'auxiliary_head', None) is not None:
        model.auxiliary_head = None  # training-only (mmseg); inference never runs it
    model.eval()
    if fuse and not fused_checkpoint:
        model = reparameterize_model(model)
    return model
