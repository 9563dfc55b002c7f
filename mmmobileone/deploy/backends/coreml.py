"""The ``coreml`` backend: ``.mlpackage`` ML programs from coremltools, for iPhone / iPad / Mac.

The network is captured with ``torch.export`` and converted to an ML program for iOS 16+ with
float32 compute precision (coremltools defaults to fp16, which also makes the input fp16). The
input is named ``input``; outputs carry the names of the ONNX export (``logits``,
``cls_score_0`` ..., ``seg_logits``). coremltools converts on Linux, but Core ML prediction
needs macOS: elsewhere :meth:`CoreMLBackend.check` verifies that the package loads and
declares the right names and shapes, and :meth:`CoreMLBackend.available` says why it cannot
run; on macOS its session gives the outputs for the parity check. Needs
``coremltools`` (``pip install -e ".[deploy]"``).
"""
import logging
import platform
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import BackendError, ConfigError
from ._common import default_output_names, require, write_one
from .base import Backend, RuntimeUnavailableError, Session
from .registry import register_backend

logger = logging.getLogger(__name__)

NAME = 'coreml'
SUFFIX = '.mlpackage'
INPUT_NAME = 'input'


def _coremltools():
    # coremltools logs a warning per missing native proxy on Linux and on untested torch
    # releases; keep them out of the export tool's output
    logging.getLogger('coremltools').setLevel(logging.ERROR)
    return require('coremltools', 'coremltools', NAME)


def _package(paths: Sequence[str]) -> str:
    return CoreMLBackend().pick(paths, SUFFIX)


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


class CoreMLSession(Session):
    """A Core ML package loaded for CPU prediction (macOS only); outputs in their declared
    order."""

    def __init__(self, path: str) -> None:
        ct = _coremltools()
        self.model = ct.models.MLModel(path, compute_units=ct.ComputeUnit.CPU_ONLY)
        self.output_names = list(describe([path])[1])

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        result = self.model.predict({INPUT_NAME: np.ascontiguousarray(inputs[0],
                                                                      dtype=np.float32)})
        return [np.asarray(result[name]) for name in self.output_names]


@register_backend(name=NAME, suffixes=(SUFFIX, ), packages=(('coremltools', 'coremltools'), ))
class CoreMLBackend(Backend):
    """coremltools conversion to an ML program (``.mlpackage``); converts anywhere, predicts
    on macOS only."""

    def runs_here(self) -> Optional[str]:
        if platform.system() == 'Darwin':
            return None
        return f'Core ML prediction needs macOS (this machine runs {platform.system()})'

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        """Convert ``module`` for ``example``'s shape to ``out_dir/name.mlpackage``; outputs
        are named ``output_names`` (default ``output_0`` ...).

        Returns:
            ``[path of the .mlpackage folder]``.

        Raises:
            MissingPackageError: coremltools is not installed (the message names the extra).
            ConfigError: ``output_names`` does not have one name per output.
        """
        self.refuse_options(self.name, options)
        ct = _coremltools()
        module = module.eval()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            outputs = module(example)
            count = 1 if isinstance(outputs, Tensor) else len(outputs)
            # torch.export, not tracing: a traced graph keeps the input-size arithmetic of the
            # segmentor's final resize, which coremltools cannot convert
            program = torch.export.export(module, (example, ),
                                          strict=False).run_decompositions({})
        names = list(output_names or default_output_names(count))
        if len(names) != count:
            raise ConfigError(f'{len(names)} output names for {count} outputs: {names}')
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

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> CoreMLSession:
        """A prediction session (macOS); ``threads`` is Core ML's choice and ignored.

        Raises:
            RuntimeUnavailableError: not on macOS.
        """
        reason = self.runs_here()
        if reason:
            raise RuntimeUnavailableError(reason)
        return CoreMLSession(self.pick(paths, SUFFIX))

    def check(self, paths: Sequence[str], input_shape: Sequence[int],
              expected: Sequence[np.ndarray], output_names: Sequence[str]) -> None:
        """Verify what can be verified without macOS: the package loads, and its input and
        outputs have the expected names and shapes (those of the PyTorch outputs).

        Raises:
            BackendError: a name or shape differs.
        """
        inputs, outputs = describe(paths)
        want_inputs = {INPUT_NAME: tuple(input_shape)}
        if inputs != want_inputs:
            raise BackendError(f'Core ML inputs {inputs}, expected {want_inputs}')
        want_outputs = {n: tuple(e.shape) for n, e in zip(output_names, expected)}
        if list(outputs) != list(want_outputs):
            raise BackendError(f'Core ML outputs {list(outputs)}, expected '
                               f'{list(want_outputs)}')
        wrong = {n: s for n, s in outputs.items() if s and s != want_outputs[n]}
        if wrong:
            raise BackendError(f'Core ML output shapes {wrong}, expected '
                               f'{ {n: want_outputs[n] for n in wrong} }')
