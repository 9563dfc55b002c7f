"""One way to get a model from a config: :func:`load_config` and :func:`init_model`.

Every tool (demo, export, FLOPs, benchmark, the re-parameterization converter) builds its model
here. Both take a config file, a ``'pkg::path'`` name, a :class:`Config` or a model name of the
zoo (``'ssdlite_mobileone-s2_coco'``, :mod:`~mmmobileone.apis.model_zoo`). The host library
(mmpretrain, mmdet or mmseg) is imported only when its config is used.
"""
import copy
import os
from typing import Dict, List, Mapping, Optional, Union

from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.utils import import_modules_from_strings
from torch import Tensor, nn

from ..datasets.preflight import iter_dataset_cfgs
from ..errors import CheckpointError, MissingPathError
from ..fileio import load_checkpoint
from ..models.reparam import check_checkpoint_form, needs_fusion, reparameterize_model
from .model_zoo import resolve_config

ConfigLike = Union[str, Config]
#: How many offending keys a mismatch message lists per kind.
MAX_LISTED = 3


def load_config(config: ConfigLike, cfg_options: Optional[Dict] = None) -> Config:
    """A :class:`Config` from a file path, a ``'pkg::rel/path.py'`` name or a Config (copied).

    ``'mmdet::ssd/x.py'``-style names read the configs shipped inside an installed library
    (:func:`mmengine.hub.get_config`). ``cfg_options`` are merged in as ``--cfg-options`` does.

    Raises:
        FileNotFoundError: the file does not exist (the message names it and the working
            directory).
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif '::' in str(config):
        try:
            cfg = get_config(config)
        except (FileNotFoundError, ModuleNotFoundError, ValueError) as error:
            raise MissingPathError(f'config {config!r} not found ({error})') from error
    else:
        cfg = Config.fromfile(resolve_config(os.fspath(config)))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def describe_mismatch(model: nn.Module, state_dict: Mapping[str, Tensor]) -> List[str]:
    """Missing, unexpected and wrongly shaped keys of ``state_dict`` for ``model``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f'{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}' for k, v in expected.items()
        if k in state_dict and hasattr(state_dict[k], 'shape') and state_dict[k].shape != v.shape
    ]
    problems = []
    for name, items in (('missing', missing), ('unexpected', unexpected),
                        ('shape mismatch (checkpoint vs model)', shapes)):
        if items:
            more = f' and {len(items) - MAX_LISTED} more' if len(items) > MAX_LISTED else ''
            problems.append(f'{len(items)} {name}: {", ".join(items[:MAX_LISTED])}{more}')
    return problems


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, Tensor], what: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with a message that lists the keys."""
    if state_dict and all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    problems = describe_mismatch(model, state_dict)
    if problems:
        raise CheckpointError(f'{what} does not match the model the config builds '
                              f'({"; ".join(problems)}); pass the config it was trained with')
    model.load_state_dict(state_dict, strict=True)


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` as mmengine's Runner does, in the config's default scope.

    Imports the config's ``custom_imports``, merges a top-level ``data_preprocessor`` and drops
    the legacy ``pretrained`` key.
    """
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmmobileone'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('pretrained', None)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return MODELS.build(model_cfg)


def _dataset_meta(cfg: Config, checkpoint: Optional[Mapping]) -> Dict:
    """Class names (and palette) the model predicts: the checkpoint's, else the config's."""
    meta = dict(((checkpoint or {}).get('meta') or {}).get('dataset_meta') or {})
    loader = cfg.get('test_dataloader') or {}
    for _, dataset in iter_dataset_cfgs(loader.get('dataset'), 'test_dataloader.dataset'):
        if meta:
            break
        meta = dict(dataset.get('metainfo') or {})
        if not meta and dataset.get('type'):
            with DATASETS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
                dataset_class = registry.get(dataset['type'])  # the library's, imported
            meta = dict(getattr(dataset_class, 'METAINFO', {}) or {})
    return {k.lower(): v for k, v in meta.items()}


def init_model(config: ConfigLike,
               checkpoint: Union[str, Mapping, None] = None,
               *,
               fuse: bool = True,
               device: str = 'cpu',
               cfg_options: Optional[Dict] = None) -> nn.Module:
    """Build the config's model, load ``checkpoint`` strictly and (by default) fuse it.

    A fused checkpoint (``deploy.pth`` from :class:`~mmmobileone.ReparamHook` or the converter)
    is recognised and loaded into the fused network directly. The returned model is in eval
    mode on ``device`` and carries ``cfg`` and ``dataset_meta`` (from the checkpoint's meta,
    else from the test dataset's config or class).

    Args:
        config: Config file, ``'pkg::path'`` name, model name of the zoo (e.g.
            ``'mobileone-s0_imagenet'``) or :class:`Config`.
        checkpoint: Checkpoint file or an already loaded checkpoint dict, training (unfused) or
            deployed (fused); ``None`` keeps the initialization (complexity, benchmarks).
        fuse: Return the re-parameterized network (same outputs, one conv per unit). With
            ``False`` a training checkpoint stays unfused; a fused checkpoint then fails.
        device: Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options: Config overrides, as ``--cfg-options`` of the tools.

    Raises:
        FileNotFoundError: the config or checkpoint does not exist.
        ValueError: the checkpoint is corrupt, does not fit the config, or is fused while
            ``fuse=False``.
    """
    cfg = load_config(config, cfg_options)
    state = None
    if checkpoint is not None:
        what = f'checkpoint {checkpoint!r}' if isinstance(checkpoint, str) else 'the checkpoint'
        state = load_checkpoint(checkpoint) if isinstance(checkpoint, str) else checkpoint
        backbone = cfg.model.get('backbone') or {}
        deploy = bool(backbone.get('deploy', False))
        try:
            check_checkpoint_form(state, deploy, what)
        except ValueError:
            if deploy or not fuse or 'MobileOne' not in str(backbone.get('type', '')):
                raise
            backbone['deploy'] = True  # a deploy.pth for a training config: build it fused
    model = revert_sync_batchnorm(build_model(cfg))  # SyncBN needs a process group
    if state is not None:
        load_state_dict_strict(model, state.get('state_dict', state), what)
    model.cfg = cfg
    model.dataset_meta = _dataset_meta(cfg, state)
    model.eval()
    if fuse and needs_fusion(model):
        model = reparameterize_model(model)
    return model.to(device).eval()
