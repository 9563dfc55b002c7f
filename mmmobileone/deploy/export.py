"""Config + checkpoint -> fused network -> a runtime's model file, checked against PyTorch.

:func:`export_config` / :func:`export_network` are the one export entry point for every runtime
in :data:`BACKENDS` (``tools/deployment/export.py``); :func:`export_config_onnx` keeps the ONNX
tool's options (dynamic axes, opset, verification batch; ``tools/deployment/export_onnx.py``).
"""
import importlib
import logging
import os.path as osp
from dataclasses import dataclass, field
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..analysis.complexity import DEFAULT_SIZES
from ..apis.model import ConfigLike, init_model
from ..models.reparam import needs_fusion
from .backends._common import remove_paths
from .backends.onnx import DEFAULT_OPSET, compare_with_onnxruntime, export_onnx
from .outputs import as_tuple, infer_task, output_names, tensor_model
from .parity import FLOAT_TOLERANCE, OutputParity, compare_outputs, worst_relative

logger = logging.getLogger(__name__)


def export_config_onnx(config: ConfigLike,
                       checkpoint: Optional[str],
                       out: str,
                       *,
                       shape: Optional[Sequence[int]] = None,
                       task: str = 'auto',
                       fuse: bool = True,
                       dynamic_spatial: Optional[bool] = None,
                       opset: int = DEFAULT_OPSET,
                       verify_batch: int = 2,
                       cfg_options: Optional[Dict] = None) -> Dict:
    """Export the config's (fused) network to ONNX at ``out`` and compare it with PyTorch.

    Args:
        config: Config file or :class:`mmengine.Config`.
        checkpoint: Training (unfused) or deployed (fused) checkpoint; ``None`` keeps the
            initialization.
        out: The ``.onnx`` file to write.
        shape: Example input ``(H, W)``; default 224 / 320 / 512 by task.
        task: ``'auto'`` (from the model) or a task name.
        fuse: Export the re-parameterized network (``False``: the train-time branches).
        dynamic_spatial: Dynamic height/width axes; default: segmentation only.
        opset: ONNX opset.
        verify_batch: Batch size of the random verification input (tests the dynamic batch
            axis); 0 skips verification.
        cfg_options: Config overrides.

    Returns:
        ``dict(path, task, outputs, max_abs_diff, relative_diff)``; the differences are
        ``None`` when verification is skipped.
    """
    model = init_model(config, checkpoint, fuse=fuse, cfg_options=cfg_options)
    task = infer_task(model) if task == 'auto' else task
    wrapper = tensor_model(model, task)
    height, width = shape or DEFAULT_SIZES[task]
    if dynamic_spatial is None:
        dynamic_spatial = task == 'segmentation'
    example = torch.randn(1, 3, height, width)
    names = export_onnx(wrapper, example, out, dynamic_batch=True,
                        dynamic_spatial=dynamic_spatial, opset=opset)
    logger.info('exported %s (%s; outputs: %s)', out, task, ', '.join(names))
    result = dict(path=out, task=task, outputs=names, max_abs_diff=None, relative_diff=None)
    if verify_batch > 0:
        inputs = torch.randn(verify_batch, 3, height, width,
                             generator=torch.Generator().manual_seed(0))
        check = compare_with_onnxruntime(wrapper, out, inputs)
        result.update(max_abs_diff=check['max_abs_diff'], relative_diff=check['relative'])
        logger.info('ONNX Runtime vs PyTorch on a %s input: max abs difference %.3g (outputs '
                    'up to %.3g, relative %.2g)', 'x'.join(map(str, inputs.shape)),
                    check['max_abs_diff'], check['max_abs_value'], check['relative'])
    return result


#: Runtimes the export entry point writes, in the order of the docs.
BACKENDS = ('onnx', 'executorch', 'litert', 'ncnn', 'coreml')


class ParityError(ValueError):
    """The runtime's outputs differ from PyTorch's by more than the tolerance; the exported
    files have been removed. ``results`` holds the per-output differences."""

    def __init__(self, message: str, results: Sequence[OutputParity]) -> None:
        super().__init__(message)
        self.results = list(results)


@dataclass
class ExportReport:
    """What :func:`export_network` wrote and how it was checked.

    Attributes:
        backend: One of :data:`BACKENDS`.
        task: ``classification``, ``detection`` or ``segmentation``.
        paths: The written model files (or bundle folder), in the runtime's order.
        output_names: The network's outputs, in order.
        input_shape: The exported input shape ``(1, 3, H, W)``.
        parity: Per-output differences against PyTorch; empty where the runtime cannot run
            here (Core ML outside macOS).
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


def backend_module(name: str) -> ModuleType:
    """The module of backend ``name`` (``export`` / ``run`` functions).

    The runtime package itself is imported only when the backend exports or runs.

    Raises:
        ValueError: ``name`` is not one of :data:`BACKENDS` (the message lists them).
    """
    if name not in BACKENDS:
        raise ValueError(f'unknown backend {name!r}; supported backends: {", ".join(BACKENDS)}')
    return importlib.import_module(f'{__package__}.backends.{name}')


def export_network(model: nn.Module, backend: str, out_dir: str, *,
                   shape: Optional[Sequence[int]] = None, task: str = 'auto',
                   name: str = 'model', tolerance: float = FLOAT_TOLERANCE) -> ExportReport:
    """Export a fused model's network with ``backend`` into ``out_dir`` and check it.

    The tensor-in / tensors-out network (:func:`~.outputs.tensor_model`) is exported for a
    batch-1 input of ``shape``; the runtime then runs the written file on a different random
    input and every output is compared with PyTorch's. Where the runtime cannot run here (Core
    ML outside macOS) the package's declared input and output names and shapes are checked
    instead.

    Args:
        model: A fused (re-parameterized) classifier, detector or segmentor in eval mode.
        backend: One of :data:`BACKENDS`.
        out_dir: Folder for the model files (created if needed).
        shape: Input ``(H, W)``; default 224 / 320 / 512 by task.
        task: ``'auto'`` (from the model) or a task name.
        name: File name stem (``name.onnx``, ``name.pte``, ...).
        tolerance: Largest relative difference accepted (see :mod:`.parity`).

    Returns:
        The :class:`ExportReport`.

    Raises:
        ValueError: unknown backend, or a model that still has train-time branches.
        ImportError: the runtime's package is missing (the message names the ``deploy`` extra).
        ParityError: an output differs by more than ``tolerance``; the files are removed.
    """
    runtime = backend_module(backend)
    if needs_fusion(model):
        raise ValueError('export_network expects a fused model: build it with '
                         'mmmobileone.apis.init_model(..., fuse=True)')
    task = infer_task(model) if task == 'auto' else task
    wrapper = tensor_model(model, task)
    height, width = shape or DEFAULT_SIZES[task]
    example = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    check_input = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    names = list(output_names(wrapper, example))
    with torch.no_grad():
        expected = [t.numpy() for t in as_tuple(wrapper(check_input))]
    paths = runtime.export(wrapper, example, out_dir, name=name, output_names=names)
    report = ExportReport(backend, task, paths, names, tuple(example.shape))
    try:
        if getattr(runtime, 'can_run', lambda: True)():
            report.parity = compare_outputs(expected, runtime.run(paths, [check_input.numpy()]),
                                            names)
            report.note = f'{backend} runtime vs PyTorch on a random {height}x{width} input'
        else:
            runtime.check(paths, example.shape, expected, names)
            report.note = ('converted and checked (input/output names and shapes); prediction '
                           'needs macOS: run the same command there for the parity check')
    except BaseException:
        remove_paths(paths)
        raise
    worst = report.worst_relative
    if worst is not None and worst > tolerance:
        remove_paths(paths)
        raise ParityError(f'{backend} export differs from PyTorch by {worst:.3g} relative '
                          f'(tolerance {tolerance:g}); removed {", ".join(paths)}',
                          report.parity)
    return report


def export_config(config: ConfigLike, checkpoint: Optional[str], backend: str, out_dir: str,
                  *, shape: Optional[Sequence[int]] = None, task: str = 'auto',
                  name: Optional[str] = None, tolerance: float = FLOAT_TOLERANCE,
                  cfg_options: Optional[Dict] = None) -> ExportReport:
    """Build the config's model, fuse it (a training checkpoint is fused first) and export it
    with :func:`export_network`; ``name`` defaults to the config's file name."""
    backend_module(backend)  # an unknown backend fails before the model is built
    model = init_model(config, checkpoint, fuse=True, cfg_options=cfg_options)
    if name is None:
        name = (osp.splitext(osp.basename(config))[0] if isinstance(config, str) else 'model')
    return export_network(model, backend, out_dir, shape=shape, task=task, name=name,
                          tolerance=tolerance)
