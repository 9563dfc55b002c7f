"""The ``litert`` backend: LiteRT (TensorFlow Lite) ``.tflite`` files written by litert-torch,
run by LiteRT's interpreter.

For Android apps using LiteRT (and its GPU / NNAPI delegates on the phone). litert-torch
captures the network with ``torch.export`` (fixed input shape, NCHW as in PyTorch) and writes
one flatbuffer. Needs ``litert-torch`` and ``ai-edge-litert`` (``pip install -e ".[deploy]"``).
litert-torch imports jax: convert in a process that does not fork afterwards
(docs/deployment.md, section 4).
"""
import logging
import re
from typing import Callable, List, Optional, Sequence

import numpy as np
from torch import Tensor, nn

from ._common import require, write_one
from .base import Backend, Session
from .registry import register_backend

logger = logging.getLogger(__name__)

NAME = 'litert'
SUFFIX = '.tflite'


def _position(name: str) -> int:
    found = re.search(r'(\d+)(?:_output)?$', name)
    return int(found.group(1)) if found else 0


class LiteRTSession(Session):
    """A LiteRT interpreter of one ``.tflite`` file, tensors allocated once."""

    def __init__(self, path: str, threads: Optional[int] = 1) -> None:
        module = require('ai_edge_litert.interpreter', 'ai-edge-litert', NAME)
        self.interpreter = module.Interpreter(model_path=path, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.inputs = [d['index'] for d in self.interpreter.get_input_details()]
        # outputs in PyTorch's order (the signature names them output_0, output_1, ...)
        self.outputs = [d['index'] for d in sorted(self.interpreter.get_output_details(),
                                                   key=lambda d: _position(d['name']))]

    def _set(self, inputs: Sequence[np.ndarray]) -> None:
        for index, value in zip(self.inputs, inputs):
            self.interpreter.set_tensor(index, np.ascontiguousarray(value, dtype=np.float32))

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        self._set(inputs)
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_tensor(i)) for i in self.outputs]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        """Inputs set once; each call invokes the interpreter and reads the outputs back."""
        self._set(inputs)

        def invoke() -> List[np.ndarray]:
            self.interpreter.invoke()
            return [self.interpreter.get_tensor(i) for i in self.outputs]

        return invoke


@register_backend(name=NAME,
                  suffixes=(SUFFIX, ),
                  packages=(('litert_torch', 'litert-torch'), ('ai_edge_litert', 'ai-edge-litert')))
class LiteRTBackend(Backend):
    """litert-torch conversion to ``.tflite``; fixed input shape."""

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        """Write ``out_dir/name.tflite``; ``output_names`` is unused (the signature's outputs
        are ``output_0`` ...). Returns ``[path of the .tflite file]``."""
        self.refuse_options(self.name, options)
        litert_torch = require('litert_torch', 'litert-torch', NAME)
        edge_model = litert_torch.convert(module.eval(), (example, ))
        paths = write_one(out_dir, name + SUFFIX, edge_model.export)
        logger.debug('wrote %s', paths[0])
        return paths

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> LiteRTSession:
        return LiteRTSession(self.pick(paths, SUFFIX), threads)
