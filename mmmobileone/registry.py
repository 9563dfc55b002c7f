"""Registries of mmmobileone.

Each registry is a child of mmengine's root registry of the same kind, with ``locations`` naming
the modules that register into it. A config of any OpenMMLab library (mmpretrain, mmdet, mmseg)
therefore reaches our classes as ``type='mmmobileone.X'`` once :mod:`mmmobileone` is imported
(for example through ``custom_imports``), and nothing is registered twice.

Task-specific glue (detection heads, segmentation datasets) lives in :mod:`mmmobileone.det` and
:mod:`mmmobileone.seg`; those import mmdet / mmseg and are named in the configs that need them,
so importing :mod:`mmmobileone` never imports mmdet or mmseg.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmmobileone', locations=['mmmobileone.models'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmmobileone', locations=['mmmobileone.engine'])
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, scope='mmmobileone', locations=['mmmobileone.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmmobileone')
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='mmmobileone')
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmmobileone')
