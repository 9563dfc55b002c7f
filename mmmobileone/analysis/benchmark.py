"""``tools/analysis/benchmark_latency.py``: MobileOne against the usual mobile baselines.

For every model: parameters and MACs (unfused and fused), then latency at batch 1 of the
network only (the tensors an exported model returns: no preprocessing, no NMS) with PyTorch
eager and the phone / edge runtimes (ONNX Runtime, ExecuTorch + XNNPACK, LiteRT, ncnn), in the
train-time (unfused, PyTorch and ONNX Runtime), re-parameterized (fused) and static INT8 (fused,
ExecuTorch/XNNPACK and ONNX Runtime QDQ) forms, with each model file's size. Each model's
variants are timed back to back so that their ratios (fusion speedup, INT8 / float) share the
machine's conditions; a large GEMM timed in the same run gives the attainable FLOP rate.

Weights behave like trained ones: BatchNorm statistics are calibrated on a few random batches
before fusing (random running statistics let activations drift into denormal floats), and the
timing process flushes denormals to zero.
"""
import importlib.metadata as metadata
import json
import logging
import os
import os.path as osp
import platform
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ..apis.model import init_model
from ..deploy.backends import get_backend
from ..deploy.int8.quantize import export_int8
from ..deploy.outputs import tensor_model
from ..errors import ConfigError
from ..models.reparam import needs_fusion, reparameterize_model
from .complexity import count_params_and_macs, mobileone_classifier
from .latency import (flush_denormals, gemm_gflops, machine_load, runtime_forward, set_threads,
                      time_callable, torch_forward)

logger = logging.getLogger(__name__)

BACKENDS = ('torch', 'ort', 'executorch', 'litert', 'ncnn')
#: Backends timed in the unfused (train-time) form too, and those with an INT8 form.
UNFUSED_BACKENDS = ('torch', 'ort')
INT8_BACKENDS = ('executorch', 'ort')
#: The deploy registry's name of each benchmark backend other than PyTorch.
REGISTRY_NAMES = dict(ort='onnx')
GROUPS = ('classification', 'detection', 'segmentation')
ENGINES = dict(torch='PyTorch eager', ort='ONNX Runtime', executorch='ExecuTorch (XNNPACK)',
               litert='LiteRT', ncnn='ncnn')


@dataclass(frozen=True)
class Entry:
    """One model of the benchmark.

    Attributes:
        name: Label in the table and plot.
        group: ``classification``, ``detection`` or ``segmentation``.
        family: ``mobileone``, ``mobileone-mu`` or ``baseline`` (plot styling).
        source: A MobileOne arch name (classifier built directly) or a config path
            (``mmpretrain::`` / ``mmdet::`` / ``mmseg::`` prefixes read the libraries' own).
            The list of entries lives in ``tools/analysis/benchmark_latency.py``.
        size: Input height = width.
    """
    name: str
    group: str
    family: str
    source: str
    size: int


@dataclass
class Row:
    """Measurements of one model; latencies are ``{form}_{backend}: [median_ms, min_ms]``
    (forms ``unfused``, ``fused``, ``int8``), ``size_mb`` the model file sizes by the same
    keys, ``errors`` the backends that failed (export or run) with the reason."""
    name: str
    group: str
    family: str
    size: int
    params_unfused: int = 0
    params_fused: int = 0
    macs_unfused: int = 0
    macs_fused: int = 0
    fusable: bool = False
    latency: Dict[str, List[float]] = field(default_factory=dict)
    size_mb: Dict[str, float] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def median(self, form: str, backend: str) -> Optional[float]:
        value = self.latency.get(f'{form}_{backend}')
        return value[0] if value else None

    def best_fused(self, backend: str) -> Optional[float]:
        """Median latency of the inference form (fused if the model can be)."""
        return self.median('fused' if self.fusable else 'unfused', backend)

    def fastest_fused(self, backend: str) -> Optional[float]:
        """Minimum latency of the inference form."""
        value = self.latency.get(f'{"fused" if self.fusable else "unfused"}_{backend}')
        return value[1] if value else None


def build_entry(entry: Entry) -> nn.Module:
    """The unfused network of ``entry`` as a tensor-in / tensors-out module, eval mode."""
    if '/' not in entry.source and not entry.source.endswith('.py'):
        return tensor_model(mobileone_classifier(entry.source).eval(), 'classification')
    return tensor_model(init_model(entry.source, None, fuse=False), entry.group)


@torch.no_grad()
def calibrate_bn(module: nn.Module, shape: Sequence[int], batches: int = 3,
                 seed: int = 0) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``batches`` random batches of
    ``shape`` (cumulative average), so that activations keep the scale of a trained network;
    returns ``module`` in eval mode."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return module.eval()
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(batches):
        module(torch.randn(*shape, generator=generator))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return module.eval()


def _files_mb(paths: Sequence[str]) -> float:
    return sum(osp.getsize(p) for p in paths) / 1e6


def _export(backend: str, form: str, module: nn.Module, inputs, calibration, folder: str):
    """Export ``module`` for ``backend``; returns ``(paths, forward)``."""
    os.makedirs(folder, exist_ok=True)
    name = REGISTRY_NAMES.get(backend, backend)
    if form == 'int8':
        paths = export_int8(name, module, inputs, calibration, folder, name=form)
    else:
        # fixed height / width for every task: the timed graph is the one of the fixed input
        options = dict(dynamic_spatial=False) if name == 'onnx' else {}
        paths = get_backend(name).export(module, inputs, folder, name=form, **options)
    return paths, lambda: runtime_forward(name, paths, inputs, 1)


def measure(entry: Entry, runs: int, warmup: int, threads: int, backends: Sequence[str],
            workdir: str, int8: bool = True) -> Row:
    """Counts, latencies and file sizes of one model, all variants back to back.

    A backend that fails (conversion or run) is logged, recorded in ``Row.errors`` and left out
    of the table; the others are still measured.
    """
    shape = (1, 3, entry.size, entry.size)
    unfused = calibrate_bn(build_entry(entry), (2, 3, entry.size, entry.size))
    fusable = needs_fusion(unfused)
    forms = {'unfused': unfused}
    if fusable:
        forms['fused'] = reparameterize_model(unfused)
    row = Row(entry.name, entry.group, entry.family, entry.size, fusable=fusable, runs=runs)
    row.params_unfused, row.macs_unfused = count_params_and_macs(unfused, shape)
    row.params_fused, row.macs_fused = (count_params_and_macs(forms['fused'], shape)
                                        if fusable else (row.params_unfused, row.macs_unfused))
    inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    calibration = [torch.randn(*shape, generator=generator) for _ in range(4)]
    inference = forms.get('fused', unfused)
    plan = []  # (form, backend, module)
    for backend in backends:
        if backend in UNFUSED_BACKENDS and fusable:
            plan.append(('unfused', backend, unfused))
        plan.append(('fused' if fusable else 'unfused', backend, inference))
        if int8 and backend in INT8_BACKENDS:
            plan.append(('int8', backend, inference))
    for form, backend, module in plan:
        key = f'{form}_{backend}'
        forward = None
        try:
            if backend == 'torch':
                forward = torch_forward(module, inputs)
            else:
                paths, make = _export(backend, form, module, inputs, calibration,
                                      osp.join(workdir, f'{entry.name}_{backend}_{form}'))
                row.size_mb[key] = _files_mb(paths)
                forward = make()
            stats = time_callable(forward, runs, warmup)
            row.latency[key] = [stats.median_ms, stats.min_ms]
        except Exception as error:  # noqa: BLE001 (one backend must not stop the run)
            row.errors[key] = ' '.join(str(error).split())[:300] or type(error).__name__
            logger.warning('%s %s: %s', entry.name, key, row.errors[key])
        del forward
    timings = ', '.join(f'{key} {value[0]:.2f} ms' for key, value in row.latency.items())
    logger.info('%s: %s', entry.name, timings)
    return row


def _cell(row: Row, form: str, backend: str) -> str:
    value = row.latency.get(f'{form}_{backend}')
    return f'{value[0]:.2f} / {value[1]:.2f}' if value else '-'


def _ratio(numerator: Optional[float], denominator: Optional[float]) -> str:
    return f'{numerator / denominator:.2f}x' if numerator and denominator else '-'


def format_table(rows: Sequence[Row], gemm: float, backend: str) -> str:
    """Markdown table. Latencies are median / min; fusion speedups compare medians;
    GFLOP/s = 2 * fused MACs / fastest run of ``backend`` (fused form), and its share of the
    ``gemm`` rate (GFLOP/s of the fastest large matrix product)."""
    lines = [
        '| model | input | params (M) unfused / fused | MACs (G) unfused / fused | '
        'PyTorch unfused (ms) | PyTorch fused (ms) | ORT unfused (ms) | ORT fused (ms) | '
        'fusion speedup PyTorch / ORT | GFLOP/s | share of GEMM |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        latency = row.fastest_fused(backend)
        rate = 2 * row.macs_fused / (latency * 1e-3) / 1e9 if latency else None
        speedups = ' / '.join(_ratio(row.median('unfused', b), row.median('fused', b))
                              for b in UNFUSED_BACKENDS)
        lines.append(
            f'| {row.name} | {row.size} | {row.params_unfused / 1e6:.2f} / '
            f'{row.params_fused / 1e6:.2f} | {row.macs_unfused / 1e9:.3f} / '
            f'{row.macs_fused / 1e9:.3f} | {_cell(row, "unfused", "torch")} | '
            f'{_cell(row, "fused", "torch")} | {_cell(row, "unfused", "ort")} | '
            f'{_cell(row, "fused", "ort")} | {speedups if row.fusable else "-"} | '
            f'{f"{rate:.1f}" if rate else "-"} | '
            f'{f"{100 * rate / gemm:.1f}%" if rate else "-"} |')
    return '\n'.join(lines)


def format_runtime_table(rows: Sequence[Row], backends: Sequence[str]) -> str:
    """Markdown: the inference form (fused where possible) on every backend, then INT8 on
    XNNPACK / ONNX Runtime with its ratio to float (medians); cells are median / min ms."""
    int8 = [b for b in INT8_BACKENDS if b in backends]
    head = ([f'{ENGINES[b]} (ms)' for b in backends] +
            [f'INT8 {ENGINES[b]} (ms)' for b in int8] +
            [f'INT8 / float {ENGINES[b]}' for b in int8])
    lines = ['| model | input | ' + ' | '.join(head) + ' |',
             '|---|---|' + '---:|' * len(head)]
    for row in rows:
        form = 'fused' if row.fusable else 'unfused'
        cells = [_cell(row, form, b) for b in backends]
        cells += [_cell(row, 'int8', b) for b in int8]
        cells += [_ratio(row.median('int8', b), row.median(form, b)) for b in int8]
        lines.append(f'| {row.name} | {row.size} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_size_table(rows: Sequence[Row], backends: Sequence[str]) -> str:
    """Markdown: model file size (MB) of the inference form per backend, and INT8."""
    files = [b for b in backends if b != 'torch']
    int8 = [b for b in INT8_BACKENDS if b in backends]
    head = [ENGINES[b] for b in files] + [f'INT8 {ENGINES[b]}' for b in int8]
    lines = ['| model | ' + ' | '.join(head) + ' |', '|---|' + '---:|' * len(head)]
    for row in rows:
        form = 'fused' if row.fusable else 'unfused'
        values = [row.size_mb.get(f'{form}_{b}') for b in files]
        values += [row.size_mb.get(f'int8_{b}') for b in int8]
        lines.append(f'| {row.name} | ' + ' | '.join(f'{v:.2f}' if v else '-'
                                                     for v in values) + ' |')
    return '\n'.join(lines)


def plot(rows: Sequence[Row], path: str, backend: str, title: str) -> None:
    """Latency against parameters and against MACs (paper Figure 2), classifiers only."""
    import matplotlib  # optional and slow to import: only when a plot is drawn
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # optional: matplotlib, after choosing the Agg backend
    rows = [r for r in rows if r.group == 'classification' and r.best_fused(backend)]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {'mobileone': ('o', 'tab:red', 'MobileOne S0-S4'),
              'mobileone-mu': ('s', 'tab:orange', 'MobileOne mu0-mu2'),
              'baseline': ('^', 'tab:blue', 'baselines')}
    for axis, (attribute, unit) in zip(axes, (('params_fused', 'parameters (M)'),
                                              ('macs_fused', 'MACs (G)'))):
        scale = 1e6 if attribute.startswith('params') else 1e9
        for family, (marker, colour, label) in styles.items():
            chosen = sorted((r for r in rows if r.family == family),
                            key=lambda r: getattr(r, attribute))
            if not chosen:
                continue
            xs = [getattr(r, attribute) / scale for r in chosen]
            ys = [r.best_fused(backend) for r in chosen]
            axis.plot(xs, ys, marker, color=colour, label=label,
                      linestyle='none' if family == 'baseline' else '-')
            for r, x, y in zip(chosen, xs, ys):
                axis.annotate(r.name.replace('MobileOne-', ''), (x, y), fontsize=7,
                              xytext=(3, 3), textcoords='offset points')
            if family.startswith('mobileone'):  # the same networks before fusion
                unfused = [r.median('unfused', backend) for r in chosen]
                axis.plot([getattr(r, attribute.replace('fused', 'unfused')) / scale
                           for r in chosen], unfused, marker, color=colour,
                          markerfacecolor='none', linestyle=':', alpha=0.6,
                          label=f'{label}, unfused')
            int8 = [(getattr(r, attribute) / scale, r.median('int8', backend)) for r in chosen
                    if r.median('int8', backend)]
            if int8 and family.startswith('mobileone'):
                axis.plot(*zip(*int8), 'x', color=colour, linestyle='--', alpha=0.8,
                          label=f'{label}, INT8')
        axis.set_xscale('log')
        axis.set_yscale('log')
        axis.set_xlabel(f'{unit}, log scale')
        axis.set_ylabel('median latency (ms), log scale')
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    # wrapped: the runtime versions and the machine load do not fit on one line
    figure.suptitle(textwrap.fill(f'{ENGINES[backend]}, {title}', 130), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _versions(backends: Sequence[str]) -> Dict[str, str]:
    packages = dict(torch='torch', ort='onnxruntime', executorch='executorch',
                    litert='ai-edge-litert', ncnn='ncnn')
    found = {}
    for backend in ('torch', 'ort', *backends):
        try:
            found[packages[backend]] = metadata.version(packages[backend])
        except metadata.PackageNotFoundError:
            found[packages[backend]] = 'missing'
    return found


def _plot_title(environment: Dict) -> str:
    versions = ', '.join(f'{k} {v}' for k, v in environment.get('versions', {}).items())
    return (f'batch 1, {environment["threads"]} thread(s), {versions or environment["torch"]}; '
            f'{environment["load_before"]}')


def replot(path: str, out_dir: str, backend: str) -> None:
    """Redraw the plot of an earlier run from its ``latency.json``."""
    with open(path) as f:
        saved = json.load(f)
    environment = saved['environment']
    os.makedirs(out_dir, exist_ok=True)
    plot([Row(**row) for row in saved['rows']], osp.join(out_dir, 'latency.png'), backend,
         _plot_title(environment))


def run_benchmark(entries: Sequence[Entry],
                  *,
                  runs: int = 100,
                  dense_runs: int = 10,
                  warmup: int = 10,
                  threads: int = 1,
                  backends: Sequence[str] = BACKENDS,
                  int8: bool = True,
                  int8_groups: Sequence[str] = ('classification', ),
                  int8_models: Optional[Sequence[str]] = None,
                  dense_backends: Optional[Sequence[str]] = None,
                  plot_backend: str = 'ort',
                  out_dir: str = 'work_dirs/benchmark_latency') -> Dict:
    """Measure ``entries``; write ``latency.md``, ``latency.json`` and ``latency.png`` to
    ``out_dir``; return ``dict(rows, gemm_gflops, environment)``.

    Args:
        int8: Also time the INT8 form on :data:`INT8_BACKENDS` ...
        int8_groups: ... for the entries of these groups ...
        int8_models: ... and, if given, only for the entries of these names.
        dense_backends: Backends for the detection / segmentation entries (default:
            ``backends``).

    Raises:
        ConfigError: an unknown backend, or ``plot_backend`` not among ``backends``.
    """
    dense_backends = [b for b in (dense_backends or backends) if b in backends]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise ConfigError(f'unknown backends {unknown}; choose from {list(BACKENDS)}')
    if plot_backend not in backends:
        raise ConfigError(f'plot backend {plot_backend!r} is not among the backends {backends}')
    set_threads(threads)
    flushed = flush_denormals()
    os.makedirs(out_dir, exist_ok=True)
    load_before = machine_load()
    gemm = gemm_gflops(threads=threads)
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for entry in entries:
            dense = entry.group != 'classification'
            quantize = int8 and entry.group in int8_groups and (int8_models is None
                                                                or entry.name in int8_models)
            rows.append(measure(entry, dense_runs if dense else runs,
                                min(warmup, 2) if dense else warmup, threads,
                                dense_backends if dense else backends, workdir, int8=quantize))
    gemm_after = gemm_gflops(threads=threads)
    environment = dict(
        threads=threads, runs=runs, dense_runs=dense_runs, warmup=warmup,
        torch=torch.__version__, versions=_versions(backends), backends=list(backends),
        dense_backends=list(dense_backends),
        flush_denormal=flushed, cpu=platform.processor() or platform.machine(),
        load_before=load_before, load_after=machine_load(), gemm_gflops_before=gemm,
        gemm_gflops_after=gemm_after, seconds=round(time.time() - started))
    table = format_table(rows, max(gemm['best'], gemm_after['best']), plot_backend)
    header = (f'threads {threads} (intra-op; inter-op 1), {runs} runs ({dense_runs} for '
              f'detection / segmentation) after {warmup} warm-up runs; latency median / min in '
              f'ms; BatchNorm statistics calibrated on 3 random batches before fusing; '
              f'denormals flushed: {flushed}; GFLOP/s from the fastest {plot_backend} run of '
              f'the inference form; 1024x1024 GEMM before / after: PyTorch {gemm["torch"]:.0f}'
              f' / {gemm_after["torch"]:.0f}, ONNX Runtime {gemm["ort"]:.0f} / '
              f'{gemm_after["ort"]:.0f} GFLOP/s (share of the best); {load_before} (before), '
              f'{environment["load_after"]} (after); {environment["seconds"]} s; '
              + ', '.join(f'{k} {v}' for k, v in environment['versions'].items()))
    errors = [f'- {row.name} {key}: {text}' for row in rows for key, text in row.errors.items()]
    parts = [header, table, 'Inference form per runtime (median / min ms):',
             format_runtime_table(rows, backends), 'Model file size (MB):',
             format_size_table(rows, backends)]
    if errors:
        parts.append('Failed:\n' + '\n'.join(errors))
    text = '\n\n'.join(parts)
    with open(osp.join(out_dir, 'latency.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(out_dir, 'latency.json'), 'w') as f:
        json.dump(dict(environment=environment, rows=[asdict(r) for r in rows]), f, indent=1)
    plot(rows, osp.join(out_dir, 'latency.png'), plot_backend, _plot_title(environment))
    logger.info('%s', text)
    return dict(rows=rows, gemm_gflops=gemm, environment=environment)
