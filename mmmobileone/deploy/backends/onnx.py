"""ONNX export with dynamic axes, and verification against ONNX Runtime."""
import logging
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ...fileio import atomic_write
from ..outputs import as_tuple, output_names

logger = logging.getLogger(__name__)

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
    import onnx
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
    """A CPU ONNX Runtime session; ``threads`` fixes intra-op threads (inter-op is 1)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def run_onnxruntime(path_or_session, inputs: Tensor) -> List[np.ndarray]:
    """Outputs of an ONNX model (path or session) for ``inputs``."""
    session = (onnxruntime_session(path_or_session)
               if isinstance(path_or_session, str) else path_or_session)
    name = session.get_inputs()[0].name
    return session.run(None, {name: inputs.detach().cpu().numpy().astype(np.float32)})


@torch.no_grad()
def compare_with_onnxruntime(wrapper: nn.Module, path_or_session,
                             inputs: Tensor) -> Dict[str, float]:
    """Compare PyTorch and ONNX Runtime on ``inputs`` over all outputs.

    Returns:
        ``dict(max_abs_diff=..., max_abs_value=..., relative=...)``: the largest absolute
        difference, the largest absolute PyTorch output, and their ratio.

    Raises:
        ValueError: if the number of outputs or any output shape differs.
    """
    expected = as_tuple(wrapper.eval()(inputs))
    actual = run_onnxruntime(path_or_session, inputs)
    if len(actual) != len(expected):
        raise ValueError(f'ONNX model gives {len(actual)} outputs, PyTorch {len(expected)}')
    worst, largest = 0.0, 0.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        if tuple(a.shape) != tuple(e.shape):
            raise ValueError(f'output {i}: ONNX shape {tuple(a.shape)} != PyTorch '
                             f'{tuple(e.shape)} for input {tuple(inputs.shape)}')
        if a.size:
            worst = max(worst, float(np.abs(a - e.numpy()).max()))
            largest = max(largest, float(e.abs().max()))
    return dict(max_abs_diff=worst, max_abs_value=largest,
                relative=worst / largest if largest else worst)


# The backend interface of the export entry point (mmmobileone.deploy.export), as the other
# runtimes' modules: export(module, example, out_dir, ...) -> paths; run(paths, inputs).
NAME = 'onnx'
SUFFIX = '.onnx'


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """Export ``module`` to ``out_dir/name.onnx`` with a dynamic batch axis (and dynamic
    height / width for a segmentor's :class:`~..outputs.SegmentorOutputs`).

    ``output_names`` is unused: the names come from the module (``logits``, ...).

    Returns:
        ``[path of the .onnx file]``.
    """
    from ..outputs import SegmentorOutputs
    path = osp.join(out_dir, name + SUFFIX)
    export_onnx(module, example, path, dynamic_batch=True,
                dynamic_spatial=isinstance(module, SegmentorOutputs))
    return [path]


def run(paths: Sequence[str], inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Run the ``.onnx`` file in ``paths`` with ONNX Runtime (CPU) on ``inputs``."""
    path = next((p for p in paths if p.endswith(SUFFIX)), None)
    if path is None:
        raise ValueError(f'no {SUFFIX} file among {list(paths)}')
    return run_onnxruntime(path, torch.from_numpy(np.ascontiguousarray(inputs[0],
                                                                       dtype=np.float32)))
