"""Config + checkpoint -> fused network -> a runtime's model file, checked against PyTorch.

:func:`export_config` / :func:`export_network` are the one export entry point for every
registered backend (:mod:`.backends`): ``tools/deployment/export.py`` and, with the ONNX
options (dynamic axes, opset, verification batch), ``tools/deployment/export_onnx.py``.
"""
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..apis.model import ConfigLike, init_model
from ..errors import BackendError, ConfigError
from ..models.reparam import needs_fusion
from .backends import MissingPackageError, get_backend
from .backends._common import remove_paths
from .outputs import DEFAULT_SIZES, as_tuple, infer_task, output_names, tensor_model
from .parity import FLOAT_TOLERANCE, OutputParity, compare_outputs, worst_relative

logger = logging.getLogger(__name__)


class ParityError(BackendError):
    """The runtime's outputs differ from PyTorch's by more than the tolerance; the exported
    files have been removed. ``results`` holds the per-output differences."""

    def __init__(self, message: str, results: Sequence[OutputParity]) -> None:
        super().__init__(message)
        self.results = list(results)


@dataclass
class ExportReport:
    """What :func:`export_network` wrote and how it was checked.

    Attributes:
        backend: The backend's name.
        task: ``classification``, ``detection`` or ``segmentation``.
        paths: The written model files (or bundle folder), in the runtime's order.
        output_names: The network's outputs, in order.
        input_shape: The exported input shape ``(1, 3, H, W)``.
        parity: Per-output differences against PyTorch; empty where the runtime cannot run
            here (Core ML outside macOS) or the check was skipped.
        note: How the export was checked, for the tool's summary line.
    """
    backend: str
    task: str
    paths: List[str]
    output_names: List[str]
    input_shape: Tuple[int, ...]
    parity: List[OutputParity] = field(default_factory=list)
    note: str = ''

    @property
    def worst_relative(self) -> Optional[float]:
        """The largest relative difference over the outputs (``None`` if not run)."""
        return worst_relative(self.parity) if self.parity else None

    @property
    def max_abs_diff(self) -> Optional[float]:
        """The largest absolute difference over the outputs (``None`` if not run)."""
        return max(r.max_abs_diff for r in self.parity) if self.parity else None


def check_input(height: int, width: int, batch: int = 1) -> Tensor:
    """The random input the written file is checked on (``torch.randn`` from seed 1); the
    export example is drawn from seed 0, so the check runs on an input the converter never
    saw."""
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


def export_network(model: nn.Module, backend: str, out_dir: str, *,
                   shape: Optional[Sequence[int]] = None, task: str = 'auto',
                   name: str = 'model', tolerance: Optional[float] = FLOAT_TOLERANCE,
                   check_batch: int = 1, allow_unfused: bool = False,
                   **options) -> ExportReport:
    """Export a fused model's network with ``backend`` into ``out_dir`` and check it.

    The tensor-in / tensors-out network (:func:`~.outputs.tensor_model`) is exported for a
    batch-1 input of ``shape``; the backend then loads the written files into a session and runs
    them on a different random input (:func:`check_input`), and every output is compared with
    PyTorch's. Where the runtime cannot run here (Core ML outside macOS) the backend checks the
    files' declared input and output names and shapes instead.

    Args:
        model: A fused (re-parameterized) classifier, detector or segmentor in eval mode.
        backend: A registered backend name (:func:`~.backends.backend_names`).
        out_dir: Folder for the model files (created if needed).
        shape: Input ``(H, W)``; default :data:`~.outputs.DEFAULT_SIZES` of the task.
        task: ``'auto'`` (from the model) or a task name.
        name: File name stem (``name.onnx``, ``name.pte``, ...).
        tolerance: Largest relative difference accepted (see :mod:`.parity`); ``None``
            reports the differences without a bound.
        check_batch: Batch size of the check input (more than 1 only for backends with a
            dynamic batch axis, i.e. ``onnx``); 0 writes the files without checking them.
        allow_unfused: Accept a model with train-time branches (for comparisons).
        **options: The backend's export options (``onnx``: ``opset``, ``dynamic_spatial``).

    Returns:
        The :class:`ExportReport`.

    Raises:
        ConfigError: unknown backend, a model that still has train-time branches, or a check
            batch the backend cannot run.
        MissingPackageError: the runtime's package is missing (the message names the
            ``deploy`` extra).
        ParityError: an output differs by more than ``tolerance``; the files are removed.
    """
    runtime = get_backend(backend)
    state = runtime.available()
    if not state.can_export:
        raise MissingPackageError(state.reason)
    if needs_fusion(model) and not allow_unfused:
        raise ConfigError('export_network expects a fused model: build it with '
                          'mmmobileone.apis.init_model(..., fuse=True)')
    if check_batch < 0 or (check_batch > 1 and not runtime.dynamic_batch):
        raise ConfigError(f'check batch {check_batch} for the {backend!r} backend; allowed: 0 '
                          f'or 1{" or more" if runtime.dynamic_batch else ""}')
    task = infer_task(model) if task == 'auto' else task
    wrapper = tensor_model(model, task)
    height, width = shape or DEFAULT_SIZES[task]
    example = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    names = list(output_names(wrapper, example))
    paths = runtime.export(wrapper, example, out_dir, name=name, output_names=names, **options)
    report = ExportReport(backend, task, paths, names, tuple(example.shape))
    if check_batch == 0:
        report.note = 'written, not checked'
        return report
    inputs = check_input(height, width, check_batch)
    try:
        with torch.no_grad():
            expected = [t.numpy() for t in as_tuple(wrapper(inputs))]
        if state.can_run:
            session = runtime.load(paths)
            report.parity = compare_outputs(expected, session.run([inputs.numpy()]), names)
            report.note = (f'{backend} runtime vs PyTorch on a random '
                           f'{"x".join(map(str, inputs.shape))} input')
        else:
            runtime.check(paths, example.shape, expected, names)
            report.note = (f'converted and checked (input/output names and shapes); '
                           f'{state.reason}')
    except BaseException:
        remove_paths(paths)
        raise
    worst = report.worst_relative
    if tolerance is not None and worst is not None and worst > tolerance:
        remove_paths(paths)
        raise ParityError(f'{backend} export differs from PyTorch by {worst:.3g} relative '
                          f'(tolerance {tolerance:g}); removed {", ".join(paths)}',
                          report.parity)
    return report


def export_config(config: ConfigLike, checkpoint: Optional[str], backend: str, out_dir: str,
                  *, shape: Optional[Sequence[int]] = None, task: str = 'auto',
                  name: Optional[str] = None, tolerance: Optional[float] = FLOAT_TOLERANCE,
                  fuse: bool = True, check_batch: int = 1, cfg_options: Optional[Dict] = None,
                  **options) -> ExportReport:
    """Build the config's model, fuse it (a training checkpoint is fused first; ``fuse=False``
    keeps the train-time branches, for comparisons) and export it with :func:`export_network`;
    ``name`` defaults to the config's file name."""
    get_backend(backend)  # an unknown backend fails before the model is built
    model = init_model(config, checkpoint, fuse=fuse, cfg_options=cfg_options)
    if name is None:
        name = (osp.splitext(osp.basename(config))[0] if isinstance(config, str) else 'model')
    return export_network(model, backend, out_dir, shape=shape, task=task, name=name,
                          tolerance=tolerance, check_batch=check_batch,
                          allow_unfused=not fuse, **options)
