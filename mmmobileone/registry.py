"""Registries of mmmobileone.

Each registry is a child of mmengine's root registry of the same kind, so a config of any
OpenMMLab library (mmpretrain, mmdet, mmseg) reaches our classes as ``type='mmmobileone.X'`` once
:mod:`mmmobileone` is imported (for example through ``custom_imports``), and nothing is
registered twice.

``locations`` name the modules that register into each registry and import no host library, so
mmengine can import them on demand. The host glue in :mod:`mmmobileone.integrations` (the mmdet
SSD head, the mmseg COCO-VOC dataset, the mmpretrain progressive-learning hook and AutoAugment)
imports its host and is therefore loaded only through the ``custom_imports`` of the configs that
need it; listing it here would make every lookup import mmdet, mmseg and mmpretrain.

==================  ============================================  ==============================
registry            registered here (host-free)                   registered by integrations
==================  ============================================  ==============================
``MODELS``          MobileOne                                     FixedSSDHead (mmdet)
``HOOKS``           ReparamHook                                   ProgressiveLearningHook
``DATA_SAMPLERS``   SeededSampler, SeededInfiniteSampler          --
``DATASETS``        --                                            COCOVOCDataset (mmseg),
                                                                  CocoDataset (mmdet)
``TRANSFORMS``      --                                            LoadCOCOVOCAnnotations (mmseg),
                                                                  ScaledAutoAugment (mmpretrain),
                                                                  LoadImageFromFile (mmcv)
``METRICS``         --                                            CocoMetric (mmdet)
==================  ============================================  ==============================
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmmobileone', locations=['mmmobileone.models'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmmobileone', locations=['mmmobileone.engine'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='mmmobileone',
    locations=['mmmobileone.datasets.samplers'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmmobileone')
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='mmmobileone')
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmmobileone')
