"""High-level APIs: one model builder, checkpoint fusion, and inference on images.

* :func:`load_config`, :func:`init_model`: the model of any mmpretrain / mmdet / mmseg config,
  loaded strictly and fused by default (every tool builds its model here);
* :func:`fuse_checkpoint`: a training checkpoint into a deployed one, outputs checked;
* :func:`build_inferencer`: the host library's inferencer around such a model;
* :func:`run_demo`: predictions drawn on images by that inferencer.

The host library is imported only when a config of it is used.
"""
from .fuse import FuseReport, fuse_checkpoint
from .inference import DemoReport, build_inferencer, collect_images, read_image, run_demo
from .model import build_model, init_model, load_config

__all__ = [
    'DemoReport', 'FuseReport', 'build_inferencer', 'build_model', 'collect_images',
    'fuse_checkpoint', 'init_model', 'load_config', 'read_image', 'run_demo'
]
