"""The ``onnx`` backend: ONNX export with dynamic axes, run by ONNX Runtime.

The one ONNX export path: ``tools/deployment/export.py --backend onnx`` and
``tools/deployment/export_onnx.py`` both export through :class:`OnnxBackend` (the INT8 export
and the latency benchmark use :func:`export_onnx` for their own graphs).
"""
import logging
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ...fileio import atomic_write
from ..outputs import SegmentorOutputs, output_names
from ._common import require
from .base import Backend, Session
from .registry import register_backend

logger = logging.getLogger(__name__)

NAME = 'onnx'
SUFFIX = '.onnx'
DEFAULT_OPSET = 17


def dynamic_axes(names: Sequence[str], dynamic_batch: bool = True,
                 dynamic_spatial: bool = False,
                 input_name: str = 'input') -> Dict[str, Dict[int, str]]:
    """``dynamic_axes`` for :func:`torch.onnx.export`: batch (axis 0) and/or H, W (axes 2, 3).

    Every output is 4-D except a classifier's ``logits`` (2-D), whose batch axis is still 0.
    """
    axes: Dict[str, Dict[int, str]] = {}
    for name in [input_name, *names]:
        entry = {}
        if dynamic_batch:
            entry[0] = 'batch'
        if dynamic_spatial and name != 'logits':
            entry.update({2: 'height' if name in (input_name, 'seg_logits') else f'{name}_h',
                          3: 'width' if name in (input_name, 'seg_logits') else f'{name}_w'})
        if entry:
            axes[name] = entry
    return axes


def export_onnx(wrapper: nn.Module, example: Tensor, path: str, dynamic_batch: bool = True,
                dynamic_spatial: bool = False, opset: int = DEFAULT_OPSET) -> List[str]:
    """Export a tensor-in / tensors-out module (see :mod:`..outputs`) to ``path``.

    Uses the TorchScript-based exporter (``dynamo=False``), which needs no extra package. The
    file is written atomically and checked with :func:`onnx.checker.check_model`.

    Returns:
        The output names, in order.
    """
    onnx = require('onnx', 'onnx', NAME)
    wrapper = wrapper.eval()
    names = list(output_names(wrapper, example))
    with atomic_write(path, suffix='.onnx.part') as temporary:
        with torch.no_grad(), warnings.catch_warnings():
            # tracing shape arithmetic (mmdet/mmseg heads) is expected: the axes are declared
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
            # we choose the TorchScript exporter (no onnxscript needed); torch says it is legacy
            warnings.filterwarnings('ignore', message='.*legacy TorchScript-based ONNX export',
                                    category=DeprecationWarning)
            warnings.filterwarnings('ignore', category=DeprecationWarning,
                                    module=r'torch\.(jit|onnx)\.')
            torch.onnx.export(wrapper, (example, ), temporary, input_names=['input'],
                              output_names=names, opset_version=opset, dynamo=False,
                              dynamic_axes=dynamic_axes(names, dynamic_batch, dynamic_spatial),
                              do_constant_folding=True)
        onnx.checker.check_model(temporary)
    logger.debug('exported %s (outputs: %s)', path, ', '.join(names))
    return names


def onnxruntime_session(path: str, threads: Optional[int] = None):
    """A CPU ONNX Runtime ``InferenceSession``; ``threads`` fixes intra-op threads (inter-op
    is 1)."""
    ort = require('onnxruntime', 'onnxruntime', NAME)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


class OnnxSession(Session):
    """An ONNX Runtime (CPU) session of one ``.onnx`` file; any batch the file allows."""

    def __init__(self, path: str, threads: Optional[int] = 1) -> None:
        self.session = onnxruntime_session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _feed(self, inputs: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(x, dtype=np.float32)
                for name, x in zip(self.input_names, inputs)}

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        return self.session.run(None, self._feed(inputs))

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        feed = self._feed(inputs)
        return lambda: self.session.run(None, feed)


@register_backend(name=NAME,
                  suffixes=(SUFFIX, ),
                  packages=(('onnx', 'onnx'), ('onnxruntime', 'onnxruntime')),
                  dynamic_batch=True)
class OnnxBackend(Backend):
    """ONNX (TorchScript-based exporter) run by ONNX Runtime on the CPU.

    Export options: ``dynamic_spatial`` (dynamic height / width axes; default: for a
    segmentor's :class:`~..outputs.SegmentorOutputs` only) and ``opset`` (default
    :data:`DEFAULT_OPSET`). The batch axis is always dynamic.
    """

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, *,
               dynamic_spatial: Optional[bool] = None, opset: int = DEFAULT_OPSET,
               **options) -> List[str]:
        """Export to ``out_dir/name.onnx``; ``output_names`` is unused (the names come from
        the module: ``logits``, ...). Returns ``[path of the .onnx file]``."""
        self.refuse_options(self.name, options)
        if dynamic_spatial is None:
            dynamic_spatial = isinstance(module, SegmentorOutputs)
        os.makedirs(out_dir, exist_ok=True)
        path = osp.join(out_dir, name + SUFFIX)
        export_onnx(module, example, path, dynamic_batch=True, dynamic_spatial=dynamic_spatial,
                    opset=opset)
        return [path]

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> OnnxSession:
        return OnnxSession(self.pick(paths, SUFFIX), threads)
