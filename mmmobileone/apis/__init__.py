"""High-level APIs: one model builder, checkpoint fusion, and inference on images.

* :func:`load_config`, :func:`init_model`: the model of any mmpretrain / mmdet / mmseg config,
  loaded strictly and fused by default (every tool builds its model here);
* :func:`fuse_checkpoint`: a training checkpoint into a deployed one, outputs checked;
* :func:`build_inferencer`: the host library's inferencer around such a model;
* :func:`run_demo`: predictions drawn on images by that inferencer;
* :func:`register_model_names`: opt in to the zoo's model names in the host libraries' own
  APIs (``mmpretrain.get_model('mobileone-s0_imagenet')``,
  ``DetInferencer('ssdlite_mobileone-s2_coco')``,
  ``MMSegInferencer('deeplabv3_mobileone-s0_voc')``).

Every function that takes a config also takes a model name of the zoo (:mod:`.model_zoo`).

The host library is imported only when a config of it is used.
"""
from .fuse import FuseReport, fuse_checkpoint
from .host_names import register_model_names
from .inference import DemoReport, build_inferencer, collect_images, read_image, run_demo
from .model import build_model, init_model, load_config

__all__ = [
    'DemoReport', 'FuseReport', 'build_inferencer', 'build_model', 'collect_images',
    'fuse_checkpoint', 'init_model', 'load_config', 'read_image', 'register_model_names',
    'run_demo'
]
