"""The ``executorch`` backend: ``.pte`` programs with the XNNPACK delegate, run by ExecuTorch.

For Android (and iOS) apps that embed the ExecuTorch runtime. The network is captured with
``torch.export`` (fixed input shape), lowered to the edge dialect with every supported
operator delegated to XNNPACK, and serialized to one ``.pte`` file. Needs the ``executorch``
package (``pip install -e ".[deploy]"``; executorch 1.2.0 is the release for torch 2.11 and
requires numpy >= 2).
"""
import contextlib
import logging
import os
import os.path as osp
import shutil
import sys
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._common import require, write_one
from .base import Backend, Session
from .registry import register_backend

logger = logging.getLogger(__name__)

NAME = 'executorch'
SUFFIX = '.pte'


@contextlib.contextmanager
def _flatc_available() -> Iterator[None]:
    """Point ExecuTorch's serializer at the ``flatc`` its package installs.

    The serializer runs ``$FLATC_EXECUTABLE`` or ``flatc`` from ``PATH``; the package puts the
    binary next to the interpreter, which is not on ``PATH`` when the environment is used
    without being activated. The variable is restored afterwards.
    """
    bundled = osp.join(osp.dirname(sys.executable), 'flatc')
    if os.environ.get('FLATC_EXECUTABLE') or shutil.which('flatc') or not osp.isfile(bundled):
        yield
        return
    os.environ['FLATC_EXECUTABLE'] = bundled
    try:
        yield
    finally:
        os.environ.pop('FLATC_EXECUTABLE', None)


def write_program(module: nn.Module, example: Tensor, out_dir: str,
                  filename: str) -> List[str]:
    """``torch.export`` ``module`` (as it is: float, or INT8 from PT2E), lower it to the
    XNNPACK delegate and write the ``.pte`` program to ``out_dir/filename``.

    Returns:
        ``[path of the .pte file]``.
    """
    exir = require('executorch.exir', 'executorch', NAME)
    partitioner = require('executorch.backends.xnnpack.partition.xnnpack_partitioner',
                          'executorch', NAME)
    with torch.no_grad():
        program = torch.export.export(module, (example, ), strict=False)
    with _flatc_available():  # the XNNPACK delegate serializes while lowering
        lowered = exir.to_edge_transform_and_lower(
            program, partitioner=[partitioner.XnnpackPartitioner()])
        buffer = lowered.to_executorch().buffer

    def save(path: str) -> None:
        with open(path, 'wb') as f:
            f.write(buffer)

    paths = write_one(out_dir, filename, save)
    logger.debug('wrote %s (%d bytes)', paths[0], len(buffer))
    return paths


def set_threads(threads: int) -> None:
    """Size ExecuTorch's CPU thread pool for the whole process (its Python runtime starts
    with one thread per core)."""
    pybindings = require('executorch.extension.pybindings.portable_lib', 'executorch', NAME)
    pybindings._unsafe_reset_threadpool(int(threads))


class ExecuTorchSession(Session):
    """The ``forward`` method of one ``.pte`` program, loaded once."""

    def __init__(self, path: str, threads: Optional[int] = 1) -> None:
        runtime = require('executorch.runtime', 'executorch', NAME)
        if threads:
            set_threads(threads)
        self.method = runtime.Runtime.get().load_program(path).load_method('forward')

    @staticmethod
    def _tensors(inputs: Sequence[np.ndarray]) -> List[Tensor]:
        return [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in inputs]

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [np.array(out.numpy()) for out in self.method.execute(self._tensors(inputs))]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        feed = self._tensors(inputs)
        return lambda: self.method.execute(feed)


@register_backend(name=NAME, suffixes=(SUFFIX, ), packages=(('executorch', 'executorch'), ))
class ExecuTorchBackend(Backend):
    """ExecuTorch program (``.pte``) with every supported operator delegated to XNNPACK;
    fixed input shape."""

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        """Write ``out_dir/name.pte`` for ``example``'s shape; ``output_names`` is unused
        (``.pte`` outputs are positional). Returns ``[path of the .pte file]``."""
        self.refuse_options(self.name, options)
        return write_program(module.eval(), example, out_dir, name + SUFFIX)

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> ExecuTorchSession:
        """Load the program; ``threads`` resizes ExecuTorch's process-wide thread pool."""
        return ExecuTorchSession(self.pick(paths, SUFFIX), threads)


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """:meth:`ExecuTorchBackend.export` of the registered backend (for the INT8 report's
    float rows)."""
    return ExecuTorchBackend().export(module, example, out_dir, name, output_names)
