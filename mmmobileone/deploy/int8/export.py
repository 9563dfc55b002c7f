"""Config + checkpoint + calibration images -> INT8 model file, compared with float PyTorch."""
import logging
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ...analysis.complexity import DEFAULT_SIZES
from ...apis.model import ConfigLike, init_model
from ..export import ExportReport
from ..outputs import as_tuple, infer_task, output_names, tensor_model
from ..parity import compare_outputs
from .calibration import _leaf_dataset, calibration_inputs
from .quantize import check_int8_backend, export_int8
from .runtime import runtime_runner

logger = logging.getLogger(__name__)

#: Calibration images used by default (more change the ranges little).
DEFAULT_CALIB_IMAGES = 32
#: Calibration images the INT8 model is compared with PyTorch on.
CHECK_IMAGES = 4


def default_calib_dir(cfg) -> Optional[str]:
    """The image folder of the config's test dataset (``data_root`` + image prefix)."""
    dataset = _leaf_dataset(cfg)
    prefix = dataset.get('data_prefix', '')
    if isinstance(prefix, dict):
        prefix = prefix.get('img', prefix.get('img_path', ''))
    folder = osp.join(dataset.get('data_root') or '', prefix or '')
    return folder if folder and osp.isdir(folder) else None


def output_sqnr(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray]) -> List[float]:
    """SQNR (dB) of each output: ``10 log10(sum e^2 / sum (a - e)^2)``."""
    values = []
    for e, a in zip(expected, actual):
        e, a = np.asarray(e, np.float64), np.asarray(a, np.float64)
        noise = float(((a - e)**2).sum())
        values.append(math.inf if noise == 0 else 10 * math.log10(float((e**2).sum()) / noise))
    return values


def export_config_int8(config: ConfigLike, checkpoint: Optional[str], backend: str,
                       out_dir: str, *, calib_dir: Optional[str] = None,
                       calib_images: int = DEFAULT_CALIB_IMAGES,
                       shape: Optional[Sequence[int]] = None, task: str = 'auto',
                       name: Optional[str] = None, keep_float: Sequence[str] = (),
                       diagonal_split: str = 'auto', bias_correction: bool = True,
                       cfg_options: Optional[Dict] = None) -> ExportReport:
    """Fuse the config's model, calibrate on ``calib_dir`` and write the INT8 model.

    Args:
        calib_dir: Images (any folder, no labels) read through the config's test pipeline;
            default: the config's test image folder.
        calib_images: At most this many calibration images.
        keep_float: Module names (inside the exported wrapper, e.g. ``model.backbone.stage0``)
            left in float.
        diagonal_split: ``'auto'``, ``'all'`` or ``'none'``: which square 1x1 fused kernels
            are quantized with their diagonal split off (:func:`.quantize.int8_ready`).
        bias_correction: Move each layer's mean simulated INT8 error into its bias
            (:func:`.bias.correct_bias`).

    Returns:
        An :class:`~mmmobileone.deploy.export.ExportReport` whose ``parity`` compares the INT8
        runtime with float PyTorch on the first calibration images (``note`` gives the SQNR).

    Raises:
        ValueError: a backend without INT8 export, no calibration folder, or one without a
            readable image.
    """
    check_int8_backend(backend)
    model = init_model(config, checkpoint, fuse=True, cfg_options=cfg_options)
    task = infer_task(model) if task == 'auto' else task
    if calib_dir is None:
        calib_dir = default_calib_dir(model.cfg)
        if calib_dir is None:
            raise ValueError('INT8 export needs calibration images: pass --calib-dir IMAGES '
                             '(the config\'s test image folder does not exist)')
    height, width = shape or DEFAULT_SIZES[task]
    inputs = calibration_inputs(model, calib_dir, (height, width), calib_images)
    wrapper = tensor_model(model, task)
    example = inputs[0]
    names = list(output_names(wrapper, example))
    if name is None:
        name = osp.splitext(osp.basename(config))[0] if isinstance(config, str) else 'model'
    paths = export_int8(backend, wrapper, example, inputs, out_dir, name, keep_float,
                        diagonal_split=diagonal_split, bias_correction=bias_correction)
    run = runtime_runner(backend, paths)
    checks = inputs[:CHECK_IMAGES]
    with torch.no_grad():
        reference = [[t.numpy() for t in as_tuple(wrapper(x))] for x in checks]
    expected = [np.concatenate(o) for o in zip(*reference)]
    actual = [np.concatenate(o) for o in zip(*[run(x.numpy()) for x in checks])]
    report = ExportReport(backend, task, paths, names, tuple(example.shape))
    report.parity = compare_outputs(expected, actual, names)
    sqnr = output_sqnr(expected, actual)
    report.note = (f'INT8 {backend} runtime vs float PyTorch on {len(checks)} calibration '
                   'image(s); SQNR ' + ', '.join(f'{n} {s:.1f} dB' for n, s in zip(names, sqnr)))
    return report
