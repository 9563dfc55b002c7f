"""High-level inference helpers (image demo) for classification, detection and segmentation.

The host library (mmpretrain, mmdet or mmseg) is imported only when a config of it is used.
"""
from .inference import (DemoReport, collect_images, draw_prediction, inference_pipeline, init_model,
                        predict, read_image, run_demo, task_of)

__all__ = [
    'DemoReport', 'collect_images', 'draw_prediction', 'init_model', 'predict', 'read_image',
    'run_demo', 'task_of', 'inference_pipeline'
]
