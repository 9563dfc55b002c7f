"""The export-parity tables of docs/deployment.md (sections 2 and 3), measured by
``tools/deployment/parity_report.py``.

Each network is a shipped config with random weights whose BatchNorm statistics are calibrated
on a few random batches (activations of the scale of a trained network,
:func:`~.benchmark.calibrate_bn`), fused, exported by every backend at the given input size
through :func:`mmmobileone.deploy.export.export_network` and run on that function's check input
(:func:`~mmmobileone.deploy.export.check_input`). For scale, PyTorch's own float32 result is
compared with a float64 evaluation of the same fused network on the same input.

Three tables (:data:`LAYOUTS`): ``onnx`` (section 2: one ONNX export per network, checked at
a batch size of its own, absolute differences), ``runtimes`` (section 3: the largest relative
difference of every backend) and ``sizes`` (section 3: the written file sizes). Conversion
times depend on the machine and its load: they are logged, not tabulated.
"""
import copy
import logging
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..apis.model import init_model
from ..deploy.backends import get_backend
from ..deploy.export import check_input, export_network
from ..deploy.outputs import as_tuple, tensor_model
from ..errors import ConfigError
from ..models.reparam import reparameterize_model
from .benchmark import calibrate_bn

logger = logging.getLogger(__name__)

#: The tables :func:`markdown_table` prints.
LAYOUTS = ('onnx', 'runtimes', 'sizes')
#: Random batches the BatchNorm statistics are calibrated on, and their batch size.
CALIBRATION_BATCHES = 3
CALIBRATION_BATCH_SIZE = 2


@dataclass(frozen=True)
class Network:
    """One row of the tables.

    Attributes:
        label: The row's name in the ``runtimes`` / ``sizes`` tables.
        config: Config path.
        shape: Input ``(H, W)``.
        check_batch: Batch of the check input in the ``onnx`` table (the ONNX file has a
            dynamic batch axis; the other runtimes are checked at batch 1).
    """
    label: str
    config: str
    shape: Tuple[int, int]
    check_batch: int = 1


@dataclass
class Measurement:
    """What one network gave on every backend.

    Attributes:
        network: The network.
        outputs: Output names.
        largest: Largest absolute PyTorch output on the check input.
        torch64: PyTorch float32 vs float64: ``(max abs difference, relative)``.
        runtime64: ONNX Runtime vs float64 (``onnx`` table only), ``(abs, relative)``.
        absolute: Largest absolute difference against PyTorch float32, by backend.
        relative: Largest relative difference against PyTorch float32, by backend; ``None``
            where the backend could only convert and check names and shapes here.
        size_mb: Written file size by backend.
        seconds: Export + check time by backend (machine-dependent).
        errors: Backends that failed, with the reason.
    """
    network: Network
    outputs: List[str] = field(default_factory=list)
    largest: float = 0.0
    torch64: Tuple[float, float] = (0.0, 0.0)
    runtime64: Optional[Tuple[float, float]] = None
    absolute: Dict[str, float] = field(default_factory=dict)
    relative: Dict[str, Optional[float]] = field(default_factory=dict)
    size_mb: Dict[str, float] = field(default_factory=dict)
    seconds: Dict[str, float] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def random_fused_model(config: str, shape: Sequence[int], seed: int = 0) -> nn.Module:
    """The config's network with random weights (seed ``seed``) and BatchNorm statistics
    calibrated on :data:`CALIBRATION_BATCHES` random batches of ``shape``, fused."""
    torch.manual_seed(seed)
    model = init_model(config, None, fuse=False)
    height, width = shape
    calibrate_bn(tensor_model(model), (CALIBRATION_BATCH_SIZE, 3, height, width),
                 CALIBRATION_BATCHES, seed)
    return reparameterize_model(model.eval())


def _difference(actual: Sequence[np.ndarray], reference: Sequence[np.ndarray]
                ) -> Tuple[float, float]:
    """``(max abs difference, max abs difference / max abs reference)`` over all outputs."""
    worst = max(float(np.abs(np.asarray(a, np.float64) - r).max()) for a, r in
                zip(actual, reference))
    largest = max(float(np.abs(r).max()) for r in reference)
    return worst, worst / largest if largest else worst


def _files_mb(paths: Sequence[str]) -> float:
    total = 0
    for path in paths:
        if osp.isdir(path):
            total += sum(osp.getsize(osp.join(folder, name))
                         for folder, _, names in os.walk(path) for name in names)
        else:
            total += osp.getsize(path)
    return total / 1e6


@torch.no_grad()
def measure(network: Network, backends: Sequence[str], work_dir: str,
            check_batch: int = 1) -> Measurement:
    """Export ``network`` with every backend into ``work_dir`` and compare with PyTorch.

    Args:
        network: The network.
        backends: Registered backend names.
        work_dir: Where the files are written (one folder per network and backend).
        check_batch: Batch of the check input (more than 1: ``onnx`` only).

    Returns:
        The :class:`Measurement`; a backend that fails is logged and recorded in ``errors``.
    """
    model = random_fused_model(network.config, network.shape)
    wrapper = tensor_model(model)
    inputs = check_input(*network.shape, check_batch)
    single = [t.numpy() for t in as_tuple(wrapper(inputs))]
    double = [t.numpy() for t in as_tuple(copy.deepcopy(wrapper).double()(inputs.double()))]
    result = Measurement(network, torch64=_difference(single, double),
                         largest=max(float(np.abs(o).max()) for o in single))
    stem = osp.splitext(osp.basename(network.config))[0]
    for backend in backends:
        start = time.perf_counter()
        try:
            report = export_network(model, backend, osp.join(work_dir, stem, backend),
                                    shape=network.shape, name=stem, tolerance=None,
                                    check_batch=check_batch)
        except Exception as error:  # noqa: BLE001 (one backend must not stop the report)
            result.errors[backend] = ' '.join(str(error).split())[:300]
            logger.warning('%s %s: %s', network.label, backend, result.errors[backend])
            continue
        result.seconds[backend] = time.perf_counter() - start
        result.outputs = report.output_names
        result.size_mb[backend] = _files_mb(report.paths)
        result.relative[backend] = report.worst_relative
        if report.parity:
            result.absolute[backend] = report.max_abs_diff
        if backend == 'onnx' and report.parity:
            session = get_backend('onnx').load(report.paths)
            result.runtime64 = _difference(session.run([inputs.numpy()]), double)
        logger.info('%s, %s: %s, %.1f MB, export + check %.1f s', network.label, backend,
                    report.note, result.size_mb[backend], result.seconds[backend])
    return result


def _outputs_cell(names: Sequence[str]) -> str:
    return f'`{names[0]}`' if len(names) == 1 else f'{len(names)} raw head maps'


def _shape_cell(network: Network, batch: Optional[int] = None) -> str:
    """``HxW``, or ``NxHxW`` with a batch."""
    height, width = network.shape
    return f'{height}x{width}' if batch is None else f'{batch}x{height}x{width}'


def format_onnx_table(rows: Sequence[Measurement]) -> str:
    """Section 2: per config, the ONNX export's absolute difference from PyTorch float32 and
    both results' distance from float64, at the row's check batch."""
    lines = ['| config | input | outputs | max abs difference | largest output | '
             'PyTorch float32 vs float64 | ONNX Runtime vs float64 |',
             '|---|---|---|---:|---:|---:|---:|']
    for row in rows:
        network = row.network
        if 'onnx' not in row.absolute:
            lines.append(f'| `{osp.basename(network.config)}` | '
                         f'{_shape_cell(network, network.check_batch)} | | failed: '
                         f'{row.errors.get("onnx", "not run")} | | | |')
            continue
        runtime64 = row.runtime64[0] if row.runtime64 else float('nan')
        lines.append(f'| `{osp.basename(network.config)}` | '
                     f'{_shape_cell(network, network.check_batch)} | '
                     f'{_outputs_cell(row.outputs)} | {row.absolute["onnx"]:.1e} | '
                     f'{row.largest:.3g} | {row.torch64[0]:.1e} | {runtime64:.1e} |')
    return '\n'.join(lines)


#: Column titles of the runtime tables, by backend name (others: the name itself).
RUNTIME_TITLES = dict(onnx='ONNX Runtime', executorch='ExecuTorch XNNPACK', litert='LiteRT',
                      ncnn='ncnn', coreml='Core ML')


def _relative_cell(row: Measurement, backend: str) -> str:
    if backend in row.errors:
        return 'failed'
    value = row.relative.get(backend)
    return f'{value:.1e}' if value is not None else 'converts; names and shapes checked'


def format_runtime_table(rows: Sequence[Measurement], backends: Sequence[str]) -> str:
    """Section 3: the largest relative difference of each backend from PyTorch float32, beside
    PyTorch float32's own from float64."""
    titles = [RUNTIME_TITLES.get(b, b) for b in backends]
    lines = ['| network | input | PyTorch float32 vs float64 | ' + ' | '.join(titles) + ' |',
             '|---|---|---:|' + '---:|' * len(backends)]
    for row in rows:
        network = row.network
        cells = [_relative_cell(row, b) for b in backends]
        lines.append(f'| {network.label} (`{_config_name(network.config)}`) | '
                     f'{_shape_cell(network)} | {row.torch64[1]:.1e} | ' + ' | '.join(cells)
                     + ' |')
    return '\n'.join(lines)


def format_size_table(rows: Sequence[Measurement], backends: Sequence[str]) -> str:
    """Section 3: the written files' size (MB) per network and backend."""
    lines = ['| network | ' + ' | '.join(f'{b} (MB)' for b in backends) + ' |',
             '|---|' + '---:|' * len(backends)]
    for row in rows:
        cells = [f'{row.size_mb[b]:.1f}' if b in row.size_mb else 'failed' for b in backends]
        lines.append(f'| {row.network.label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _config_name(config: str) -> str:
    """``configs/x/y.py`` -> ``x/y.py`` (the path below ``configs/``)."""
    parts = config.replace('\\', '/').split('/')
    return '/'.join(parts[parts.index('configs') + 1:]) if 'configs' in parts else parts[-1]


def markdown_table(layout: str, rows: Sequence[Measurement], backends: Sequence[str]) -> str:
    """The table of :data:`LAYOUTS` ``layout`` for measurements ``rows``.

    Raises:
        ConfigError: unknown layout (the message lists :data:`LAYOUTS`).
    """
    if layout == 'onnx':
        return format_onnx_table(rows)
    if layout == 'runtimes':
        return format_runtime_table(rows, backends)
    if layout == 'sizes':
        return format_size_table(rows, backends)
    raise ConfigError(f'unknown table layout {layout!r}; choose from {LAYOUTS}')


def table_header(layout: str, backends: Sequence[str]) -> str:
    """The header line :func:`markdown_table` prints for ``layout`` (no measurement needed)."""
    return markdown_table(layout, [], backends).splitlines()[0]
