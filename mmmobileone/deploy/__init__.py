"""Deployment: tensor-in / tensors-out views of models and their export to runtimes.

:mod:`.outputs` says what an exported graph computes for each task; :mod:`.backends` holds one
module per runtime (ONNX / ONNX Runtime, ...). Importing this package imports no exporter and no
host library; each backend imports its runtime when used.
"""
from .outputs import (TASKS, ClassifierOutputs, DetectorOutputs, SegmentorOutputs, as_tuple,
                      infer_task, tensor_model)

__all__ = [
    'TASKS', 'ClassifierOutputs', 'DetectorOutputs', 'SegmentorOutputs', 'as_tuple',
    'infer_task', 'tensor_model'
]
