"""Does a config declare mmmobileone's run-time safeguards? One warning line if it does not.

The safeguards are part of the experiment, so they live in the config
(``configs/_base_/runtime_safeguards.py``, inherited by every shipped config), never in the
tools: ``tools/train.py`` and ``tools/test.py`` do not add them. For a user's config that lacks
some, :func:`warn_missing_safeguards` logs one line naming what is missing and the base to
inherit; the run is left as the config says.
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

from .config_tree import iter_config_dicts

logger = logging.getLogger(__name__)

#: The base that declares the safeguards (relative to the repository root).
SAFEGUARDS_BASE = 'configs/_base_/runtime_safeguards.py'
#: Hooks a training config should have (``default_hooks`` or ``custom_hooks``), by class name.
SAFEGUARD_HOOKS = ('SafeCheckpointHook', 'FiniteLossHook', 'EpochSeedHook',
                   'PretrainedInitCheckHook')
#: Host types that have checked drop-ins: bare name -> (drop-in, default scopes; None: all).
CHECKED_TYPES: Dict[str, Tuple[str, Optional[Tuple[str, ...]]]] = {
    'LoadImageFromFile': ('mmmobileone.LoadImageFromFile', None),
    'CocoDataset': ('mmmobileone.CocoDataset', ('mmdet', )),
    'CocoMetric': ('mmmobileone.CocoMetric', ('mmdet', )),
}
#: Config entries whose data types are looked at.
DATA_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
             'test_evaluator')


def type_name(kind: Any) -> str:
    """The class name of a config ``type`` (``'mmmobileone.FiniteLossHook'`` ->
    ``'FiniteLossHook'``; a class gives its ``__name__``)."""
    return getattr(kind, '__name__', str(kind)).split('.')[-1]


def declared_hooks(cfg: Any) -> List[str]:
    """Class names of the hooks in ``default_hooks`` (non-``None`` entries) and
    ``custom_hooks``."""
    hooks = [h for h in dict(cfg.get('default_hooks') or {}).values() if h is not None]
    hooks += list(cfg.get('custom_hooks') or [])
    return [type_name(h.get('type', '') if isinstance(h, dict) else type(h)) for h in hooks]


def unchecked_data_types(cfg: Any) -> List[str]:
    """``'KEY (TYPE)'`` for every bare host type in the data entries that has a checked drop-in.

    A type named with its scope (``'mmdet.CocoMetric'``) is the user's explicit choice and is
    not listed.
    """
    scope = cfg.get('default_scope')
    found = []
    for key in DATA_KEYS:
        for where, node in iter_config_dicts(cfg.get(key), key):
            kind = node.get('type')
            if isinstance(kind, str) and kind in CHECKED_TYPES:
                scopes = CHECKED_TYPES[kind][1]
                if scopes is None or scope in scopes:
                    found.append(f'{where} ({kind})')
    return found


def missing_safeguards(cfg: Any, training: bool = True) -> List[str]:
    """What of the safeguards ``cfg`` does not declare (empty: all of them).

    Args:
        cfg: An mmengine ``Config`` (or dict).
        training: Also look at the training hooks (``tools/test.py`` passes ``False``).

    Returns:
        Missing hook class names, then ``'KEY (TYPE)'`` for each host type that should be
        mmmobileone's checked drop-in.
    """
    missing = []
    if training:
        present = set(declared_hooks(cfg))
        missing += [name for name in SAFEGUARD_HOOKS if name not in present]
    return missing + unchecked_data_types(cfg)


def warn_missing_safeguards(cfg: Any, training: bool = True) -> List[str]:
    """Log one warning line if ``cfg`` lacks safeguards (nothing is changed); returns them."""
    missing = missing_safeguards(cfg, training)
    if missing:
        shown = ', '.join(missing[:6]) + (f', ... ({len(missing)} in all)'
                                          if len(missing) > 6 else '')
        logger.warning(
            f'this config does not declare mmmobileone\'s run-time safeguards ({shown}); the run '
            f'goes ahead without them. Inherit {SAFEGUARDS_BASE} and use its safeguard_hooks and '
            'checked data types (docs/workflow.md, "What survives what"), or inherit a shipped '
            'config')
    return missing
