"""High-level APIs: checkpoint re-parameterization and inference (image demo).

The host library (mmpretrain, mmdet or mmseg) is imported only when a config of it is used.
"""
from .convert import ConversionReport, build_model_from_config, convert_checkpoint
from .inference import (DemoReport, collect_images, draw_prediction, inference_pipeline, init_model,
                        predict, read_image, run_demo, task_of)

__all__ = [
    'ConversionReport', 'DemoReport', 'build_model_from_config', 'collect_images',
    'convert_checkpoint', 'draw_prediction', 'inference_pipeline', 'init_model', 'predict',
    'read_image', 'run_demo', 'task_of'
]
