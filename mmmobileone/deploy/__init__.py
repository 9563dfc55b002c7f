"""Deployment: tensor-in / tensors-out views of models and their export to runtimes.

:mod:`.outputs` says what an exported graph computes for each task (and the default input size
per task); :mod:`.backends` holds one module per runtime behind one interface and registry;
:mod:`.export` exports and checks through it. Importing this package imports no exporter and no
host library; each backend imports its runtime when used.
"""
from .outputs import (DEFAULT_SIZES, TASKS, ClassifierOutputs, DetectorOutputs, SegmentorOutputs,
                      as_tuple, infer_task, tensor_model)

__all__ = [
    'DEFAULT_SIZES', 'TASKS', 'ClassifierOutputs', 'DetectorOutputs', 'SegmentorOutputs',
    'as_tuple', 'infer_task', 'tensor_model'
]
