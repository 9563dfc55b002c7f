"""Core ML export (``.mlpackage``, ML program) with coremltools, for iPhone / iPad / Mac apps.

The network is captured with ``torch.export`` and converted to an ML program for iOS 16+ with
float32 compute precision (coremltools defaults to fp16, which also makes the input fp16). The
input is named ``input``; outputs carry the names of the ONNX export (``logits``,
``cls_score_0`` ..., ``seg_logits``). coremltools converts on Linux, but Core ML prediction
needs macOS: here :func:`check` verifies that the package loads and declares the right names
and shapes, and :func:`run` (on macOS) gives the outputs for the parity check. Needs
``coremltools`` (``pip install -e ".[deploy]"``).
"""
import logging
import platform
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ._common import RuntimeUnavailableError, default_output_names, require, write_one

logger = logging.getLogger(__name__)

NAME = 'coreml'
SUFFIX = '.mlpackage'
INPUT_NAME = 'input'


def _coremltools():
    # coremltools logs a warning per missing native proxy on Linux and on untested torch
    # releases; keep them out of the export tool's output
    logging.getLogger('coremltools').setLevel(logging.ERROR)
    return require('coremltools', 'coremltools', NAME)


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """Convert ``module`` for ``example``'s shape to ``out_dir/name.mlpackage``.

    The arguments are the backend interface of :mod:`mmmobileone.deploy.backends`.

    Args:
        output_names: Names for the outputs, in order (default ``output_0`` ...).

    Returns:
        ``[path of the .mlpackage folder]``.

    Raises:
        ImportError: coremltools is not installed (the message names the extra).
    """
    ct = _coremltools()
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        outputs = module(example)
        count = 1 if isinstance(outputs, Tensor) else len(outputs)
        # torch.export, not tracing: a traced graph keeps the input-size arithmetic of the
        # segmentor's final resize, which coremltools cannot convert
        program = torch.export.export(module, (example, ), strict=False).run_decompositions({})
    names = list(output_names or default_output_names(count))
    if len(names) != count:
        raise ValueError(f'{len(names)} output names for {count} outputs')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = ct.convert(program,
                           inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example.shape))],
                           outputs=[ct.TensorType(name=n) for n in names],
                           convert_to='mlprogram',
                           minimum_deployment_target=ct.target.iOS16,
                           compute_precision=ct.precision.FLOAT32)
    paths = write_one(out_dir, name + SUFFIX, model.save)
    logger.debug('wrote %s', paths[0])
    return paths


def _package(paths: Sequence[str]) -> str:
    for path in paths:
        if path.rstrip('/').endswith(SUFFIX):
            return path
    raise ValueError(f'no {SUFFIX} among {list(paths)}')


def describe(paths: Sequence[str]) -> Tuple[Dict[str, tuple], Dict[str, tuple]]:
    """Load the package (its spec; works on Linux) and return its declared inputs and outputs.

    Returns:
        ``(inputs, outputs)``: ordered ``{name: shape}`` dicts.
    """
    ct = _coremltools()
    spec = ct.models.MLModel(_package(paths), skip_model_load=True).get_spec()

    def shapes(features):
        return {f.name: tuple(int(s) for s in f.type.multiArrayType.shape) for f in features}

    return shapes(spec.description.input), shapes(spec.description.output)


def check(paths: Sequence[str], input_shape: Sequence[int], expected: Sequence[np.ndarray],
          output_names: Sequence[str]) -> None:
    """Verify what can be verified without macOS: the package loads, and its input and outputs
    have the expected names and shapes (those of the PyTorch outputs).

    Raises:
        ValueError: a name or shape differs.
    """
    inputs, outputs = describe(paths)
    want_inputs = {INPUT_NAME: tuple(input_shape)}
    if inputs != want_inputs:
        raise ValueError(f'Core ML inputs {inputs}, expected {want_inputs}')
    want_outputs = {n: tuple(e.shape) for n, e in zip(output_names, expected)}
    if list(outputs) != list(want_outputs):
        raise ValueError(f'Core ML outputs {list(outputs)}, expected {list(want_outputs)}')
    wrong = {n: s for n, s in outputs.items() if s and s != want_outputs[n]}
    if wrong:
        raise ValueError(f'Core ML output shapes {wrong}, expected '
                         f'{ {n: want_outputs[n] for n in wrong} }')


def can_run() -> bool:
    """Core ML prediction is only available on macOS."""
    return platform.system() == 'Darwin'


def run(paths: Sequence[str], inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Predict with the package (macOS only), outputs in their declared order.

    Raises:
        RuntimeUnavailableError: not on macOS.
    """
    if not can_run():
        raise RuntimeUnavailableError('Core ML prediction needs macOS; on this machine the '
                                      'package was only converted and checked (names, shapes)')
    ct = _coremltools()
    model = ct.models.MLModel(_package(paths), compute_units=ct.ComputeUnit.CPU_ONLY)
    _, outputs = describe(paths)
    result = model.predict({INPUT_NAME: np.ascontiguousarray(inputs[0], dtype=np.float32)})
    return [np.asarray(result[name]) for name in outputs]
