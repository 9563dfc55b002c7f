"""Static INT8 post-training quantization (ExecuTorch/XNNPACK PT2E, ONNX Runtime QDQ),
calibration through the config's test pipeline, runtime accuracy and per-layer SQNR
(docs/deployment.md, "INT8 quantization")."""
from .calibration import IMAGE_SUFFIXES, calibration_inputs, list_images
from .quantize import INT8_BACKENDS, check_int8_backend, export_int8

__all__ = ['IMAGE_SUFFIXES', 'INT8_BACKENDS', 'calibration_inputs', 'check_int8_backend',
           'export_int8', 'list_images']
