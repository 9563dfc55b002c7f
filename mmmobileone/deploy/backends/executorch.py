"""ExecuTorch export (``.pte``, XNNPACK delegate) and parity runs with its Python runtime.

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
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._common import require, write_one

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


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """Export ``module`` for ``example``'s shape to ``out_dir/name.pte``.

    Args:
        module: A tensor-in / tensors-out module in eval mode (see
            :mod:`mmmobileone.deploy.outputs`).
        example: An input of the shape the program will accept (the shape is fixed).
        out_dir: Folder to write to (created if needed).
        name: File name without suffix.
        output_names: Unused (``.pte`` outputs are positional); accepted for a uniform
            backend interface.

    Returns:
        ``[path of the .pte file]``.

    Raises:
        ImportError: executorch is not installed (the message names the extra).
    """
    return write_program(module.eval(), example, out_dir, name + SUFFIX)


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
    """Size ExecuTorch's CPU thread pool (its Python runtime starts with one per core)."""
    pybindings = require('executorch.extension.pybindings.portable_lib', 'executorch', NAME)
    pybindings._unsafe_reset_threadpool(int(threads))


def load(paths: Sequence[str]):
    """The ``forward`` method of the ``.pte`` program in ``paths``, ready to execute."""
    runtime = require('executorch.runtime', 'executorch', NAME)
    program = runtime.Runtime.get().load_program(_pte(paths))
    return program.load_method('forward')


def run(paths: Sequence[str], inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Run the exported program once on ``inputs`` (float32 arrays of the exported shape).

    Returns:
        The outputs as numpy arrays, in PyTorch's order.
    """
    method = load(paths)
    outputs = method.execute([torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
                              for x in inputs])
    return [np.array(out.numpy()) for out in outputs]


def _pte(paths: Sequence[str]) -> str:
    for path in paths:
        if path.endswith(SUFFIX):
            return path
    raise ValueError(f'no {SUFFIX} file among {list(paths)}')
