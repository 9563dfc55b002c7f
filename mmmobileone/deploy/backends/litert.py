"""LiteRT (TensorFlow Lite) export (``.tflite``) with litert-torch, parity with its interpreter.

For Android apps using LiteRT (and its GPU / NNAPI delegates on the phone). litert-torch
captures the network with ``torch.export`` (fixed input shape, NCHW as in PyTorch) and writes
one flatbuffer. Needs ``litert-torch`` and ``ai-edge-litert`` (``pip install -e ".[deploy]"``).
"""
import logging
import re
from typing import List, Optional, Sequence

import numpy as np
from torch import Tensor, nn

from ._common import require, write_one

logger = logging.getLogger(__name__)

NAME = 'litert'
SUFFIX = '.tflite'


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """Convert ``module`` for ``example``'s shape to ``out_dir/name.tflite``.

    The arguments are the backend interface of :mod:`mmmobileone.deploy.backends`.

    Args:
        output_names: Unused (the signature's outputs are ``output_0`` ...).

    Returns:
        ``[path of the .tflite file]``.

    Raises:
        ImportError: litert-torch is not installed (the message names the extra).
    """
    litert_torch = require('litert_torch', 'litert-torch', NAME)
    edge_model = litert_torch.convert(module.eval(), (example, ))
    paths = write_one(out_dir, name + SUFFIX, edge_model.export)
    logger.debug('wrote %s', paths[0])
    return paths


def interpreter(paths: Sequence[str], threads: Optional[int] = 1):
    """A LiteRT interpreter of the ``.tflite`` file in ``paths``, tensors allocated."""
    module = require('ai_edge_litert.interpreter', 'ai-edge-litert', NAME)
    path = next((p for p in paths if p.endswith(SUFFIX)), None)
    if path is None:
        raise ValueError(f'no {SUFFIX} file among {list(paths)}')
    engine = module.Interpreter(model_path=path, num_threads=threads)
    engine.allocate_tensors()
    return engine


def _position(name: str) -> int:
    found = re.search(r'(\d+)(?:_output)?$', name)
    return int(found.group(1)) if found else 0


def run(paths: Sequence[str], inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Run the ``.tflite`` model once on ``inputs`` (float32 arrays of the exported shape).

    Returns:
        The outputs as numpy arrays, in PyTorch's order (``output_0``, ``output_1``, ...).
    """
    engine = interpreter(paths)
    for detail, value in zip(engine.get_input_details(), inputs):
        engine.set_tensor(detail['index'], np.ascontiguousarray(value, dtype=np.float32))
    engine.invoke()
    details = sorted(engine.get_output_details(), key=lambda d: _position(d['name']))
    return [np.array(engine.get_tensor(d['index'])) for d in details]
