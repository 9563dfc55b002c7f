"""High-level APIs: one model builder, checkpoint fusion, and inference on images.

* :func:`load_config`, :func:`init_model`: the model of any mmpretrain / mmdet / mmseg config,
  loaded strictly and fused by default (every tool builds its model here);
* :func:`fuse_checkpoint`: a training checkpoint into a deployed one, outputs checked;
* :func:`run_demo`: predictions drawn on images.

The host library is imported only when a config of it is used.
"""
from .fuse import FuseReport, fuse_checkpoint
from .inference import (DemoReport, collect_images, draw_prediction, inference_pipeline, predict,
                        read_image, run_demo, task_of)
from .model import build_model, init_model, load_config

__all__ = [
    'DemoReport', 'FuseReport', 'build_model', 'collect_images', 'draw_prediction',
    'fuse_checkpoint', 'inference_pipeline', 'init_model', 'load_config', 'predict', 'read_image',
    'run_demo', 'task_of'
]
