"""Deployment: fused models from configs, ONNX export and verification, complexity, latency.

Importing this package does not import mmdet, mmseg or mmpretrain; building a model from a
config imports the library its ``default_scope`` names.
"""
from .builder import build_model, load_config
from .onnx_export import (compare_with_onnxruntime, dynamic_axes, export_onnx, max_abs_difference,
                          onnxruntime_session, run_onnxruntime)
from .wrappers import (TASKS, ClassifierOutputs, DetectorOutputs, SegmentorOutputs, infer_task,
                       tensor_model)

__all__ = [
    'TASKS', 'ClassifierOutputs', 'DetectorOutputs', 'SegmentorOutputs', 'build_model',
    'compare_with_onnxruntime', 'dynamic_axes', 'export_onnx', 'infer_task', 'load_config',
    'max_abs_difference', 'onnxruntime_session', 'run_onnxruntime', 'tensor_model'
]
