"""The tools read users' files with mmmobileone's checked drop-ins of three host classes.

=====================  ================================  =============================
in the config          tools/train.py, tools/test.py use  what it adds
=====================  ================================  =============================
``LoadImageFromFile``  ``mmmobileone.LoadImageFromFile``  an error naming an unreadable
                                                          image (0 bytes, truncated)
``CocoDataset``        ``mmmobileone.CocoDataset``        COCO files as labelling tools
(mmdet configs)                                           write them; dropped boxes
                                                          counted and named
``CocoMetric``         ``mmmobileone.CocoMetric``         the same files; mAP 0 (with a
(mmdet configs)                                           warning) when nothing is predicted
=====================  ================================  =============================

Each is the host's class with the same arguments and the same results on data the host reads
(:mod:`mmmobileone.integrations.mmcv`, :mod:`mmmobileone.integrations.mmdet`). Only the bare
names are replaced: a config that names the host's class with its scope
(``type='mmdet.CocoMetric'``, ``type='mmcv.LoadImageFromFile'``) keeps it. The replacement is
logged and lands in the config the Runner dumps to the work dir.
"""
import importlib
import logging
from collections import Counter
from typing import Any, Dict, Optional, Tuple

#: bare type -> (drop-in, module that registers it, default scopes it applies to; None: all).
CHECKED_DROPINS: Dict[str, Tuple[str, str, Optional[Tuple[str, ...]]]] = {
    'LoadImageFromFile': ('mmmobileone.LoadImageFromFile', 'mmmobileone.integrations.mmcv',
                          None),
    'CocoDataset': ('mmmobileone.CocoDataset', 'mmmobileone.integrations.mmdet', ('mmdet', )),
    'CocoMetric': ('mmmobileone.CocoMetric', 'mmmobileone.integrations.mmdet', ('mmdet', )),
}
#: Config entries whose types are replaced.
CHECKED_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'test_evaluator')

logger = logging.getLogger('mmmobileone.datasets')


def _replace(node: Any, scope: Optional[str], counts: Counter) -> None:
    if isinstance(node, dict):
        kind = node.get('type')
        if isinstance(kind, str) and kind in CHECKED_DROPINS:
            dropin, _, scopes = CHECKED_DROPINS[kind]
            if scopes is None or scope in scopes:
                node['type'] = dropin
                counts[kind] += 1
        for value in node.values():
            _replace(value, scope, counts)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _replace(value, scope, counts)


def use_checked_dropins(cfg) -> Dict[str, int]:
    """Replace, in place, the host types of :data:`CHECKED_DROPINS` in the data entries of cfg.

    Imports the modules that register the drop-ins (and adds them to ``custom_imports``).

    Returns:
        How many of each type were replaced.
    """
    counts: Counter = Counter()
    scope = cfg.get('default_scope')
    for key in CHECKED_KEYS:
        if cfg.get(key) is not None:
            _replace(cfg[key], scope, counts)
    if not counts:
        return {}
    modules = sorted({CHECKED_DROPINS[kind][1] for kind in counts})
    for module in modules:
        importlib.import_module(module)
    custom_imports = dict(cfg.get('custom_imports') or {})
    imports = custom_imports.get('imports') or []
    imports = [imports] if isinstance(imports, str) else list(imports)
    custom_imports['imports'] = imports + [m for m in modules if m not in imports]
    custom_imports.setdefault('allow_failed_imports', False)
    cfg.custom_imports = custom_imports
    logger.info('reading the data with mmmobileone\'s checked drop-ins: ' + ', '.join(
        f'{kind} -> {CHECKED_DROPINS[kind][0]} ({count}x)' for kind, count in counts.items()) +
        ' (see mmmobileone/datasets/checked.py)')
    return dict(counts)
