"""``tools/analysis/benchmark_latency.py``: MobileOne against the usual mobile baselines.

For every model: parameters and MACs (unfused and fused), then latency at batch 1 of the
network only (the tensors an exported ONNX graph returns: no preprocessing, no NMS) with
PyTorch eager and ONNX Runtime, train-time (unfused) and re-parameterized (fused) forms. Each
model's variants are timed back to back so that their ratios (the fusion speedup) share the
machine's conditions; a large GEMM timed in the same run gives the attainable FLOP rate.
"""
import json
import logging
import os
import os.path as osp
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ..apis.model import init_model
from ..deploy.backends.onnx import export_onnx
from ..deploy.outputs import tensor_model
from ..models.reparam import needs_fusion, reparameterize_model
from .complexity import count_params_and_macs, mobileone_classifier
from .latency import (gemm_gflops, machine_load, onnxruntime_forward, set_threads, time_callable,
                      torch_forward)

logger = logging.getLogger(__name__)

BACKENDS = ('torch', 'ort')
GROUPS = ('classification', 'detection', 'segmentation')


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
    """Measurements of one model; latencies are ``{form}_{backend}: [median_ms, min_ms]``."""
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


def measure(entry: Entry, runs: int, warmup: int, threads: int, backends: Sequence[str],
            workdir: str) -> Row:
    """Counts and latencies of one model, all variants back to back."""
    unfused = build_entry(entry)
    fusable = needs_fusion(unfused)
    forms = {'unfused': unfused}
    if fusable:
        forms['fused'] = reparameterize_model(unfused)
    shape = (1, 3, entry.size, entry.size)
    row = Row(entry.name, entry.group, entry.family, entry.size, fusable=fusable, runs=runs)
    row.params_unfused, row.macs_unfused = count_params_and_macs(unfused, shape)
    row.params_fused, row.macs_fused = (count_params_and_macs(forms['fused'], shape)
                                        if fusable else (row.params_unfused, row.macs_unfused))
    inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for form, module in forms.items():
        if 'torch' in backends:
            stats = time_callable(torch_forward(module, inputs), runs, warmup)
            row.latency[f'{form}_torch'] = [stats.median_ms, stats.min_ms]
        if 'ort' in backends:
            path = osp.join(workdir, f'{entry.name}_{form}.onnx')
            export_onnx(module, inputs, path)
            stats = time_callable(onnxruntime_forward(path, inputs, threads), runs, warmup)
            row.latency[f'{form}_ort'] = [stats.median_ms, stats.min_ms]
            os.remove(path)
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
                              for b in BACKENDS)
        lines.append(
            f'| {row.name} | {row.size} | {row.params_unfused / 1e6:.2f} / '
            f'{row.params_fused / 1e6:.2f} | {row.macs_unfused / 1e9:.3f} / '
            f'{row.macs_fused / 1e9:.3f} | {_cell(row, "unfused", "torch")} | '
            f'{_cell(row, "fused", "torch")} | {_cell(row, "unfused", "ort")} | '
            f'{_cell(row, "fused", "ort")} | {speedups if row.fusable else "-"} | '
            f'{f"{rate:.1f}" if rate else "-"} | '
            f'{f"{100 * rate / gemm:.1f}%" if rate else "-"} |')
    return '\n'.join(lines)


def plot(rows: Sequence[Row], path: str, backend: str, title: str) -> None:
    """Latency against parameters and against MACs (paper Figure 2), classifiers only."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
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
        axis.set_xscale('log')
        axis.set_yscale('log')
        axis.set_xlabel(f'{unit}, log scale')
        axis.set_ylabel('median latency (ms), log scale')
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    engine = 'ONNX Runtime' if backend == 'ort' else 'PyTorch eager'
    figure.suptitle(f'{engine}, {title}', fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def replot(path: str, out_dir: str, backend: str) -> None:
    """Redraw the plot of an earlier run from its ``latency.json``."""
    with open(path) as f:
        saved = json.load(f)
    environment = saved['environment']
    os.makedirs(out_dir, exist_ok=True)
    plot([Row(**row) for row in saved['rows']], osp.join(out_dir, 'latency.png'), backend,
         f'batch 1, {environment["threads"]} thread(s), torch {environment["torch"]}, '
         f'onnxruntime {environment["onnxruntime"]}; {environment["load_before"]}')


def run_benchmark(entries: Sequence[Entry],
                  *,
                  runs: int = 100,
                  dense_runs: int = 10,
                  warmup: int = 10,
                  threads: int = 1,
                  backends: Sequence[str] = BACKENDS,
                  plot_backend: str = 'ort',
                  out_dir: str = 'work_dirs/benchmark_latency') -> Dict:
    """Measure ``entries``; write ``latency.md``, ``latency.json`` and ``latency.png`` to
    ``out_dir``; return ``dict(rows, gemm_gflops, environment)``.

    Raises:
        ValueError: an unknown backend, or ``plot_backend`` not among ``backends``.
    """
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise ValueError(f'unknown backends {unknown}; choose from {list(BACKENDS)}')
    if plot_backend not in backends:
        raise ValueError(f'plot backend {plot_backend!r} is not among the backends {backends}')
    set_threads(threads)
    os.makedirs(out_dir, exist_ok=True)
    load_before = machine_load()
    gemm = gemm_gflops(threads=threads)
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for entry in entries:
            dense = entry.group != 'classification'
            rows.append(measure(entry, dense_runs if dense else runs,
                                min(warmup, 2) if dense else warmup, threads, backends,
                                workdir))
    gemm_after = gemm_gflops(threads=threads)
    import onnxruntime
    environment = dict(
        threads=threads, runs=runs, dense_runs=dense_runs, warmup=warmup,
        torch=torch.__version__, onnxruntime=onnxruntime.__version__,
        cpu=platform.processor() or platform.machine(), load_before=load_before,
        load_after=machine_load(), gemm_gflops_before=gemm, gemm_gflops_after=gemm_after,
        seconds=round(time.time() - started))
    table = format_table(rows, max(gemm['best'], gemm_after['best']), plot_backend)
    header = (f'threads {threads}, {runs} runs ({dense_runs} for detection / '
              f'segmentation) after {warmup} warm-up runs; latency median / min in ms; '
              f'GFLOP/s from the fastest {plot_backend} run of the inference form; '
              f'1024x1024 GEMM before / after: PyTorch {gemm["torch"]:.0f} / '
              f'{gemm_after["torch"]:.0f}, ONNX Runtime {gemm["ort"]:.0f} / '
              f'{gemm_after["ort"]:.0f} GFLOP/s (share of the best); {load_before} (before), '
              f'{environment["load_after"]} (after); {environment["seconds"]} s')
    with open(osp.join(out_dir, 'latency.md'), 'w') as f:
        f.write(header + '\n\n' + table + '\n')
    with open(osp.join(out_dir, 'latency.json'), 'w') as f:
        json.dump(dict(environment=environment, rows=[asdict(r) for r in rows]), f, indent=1)
    plot(rows, osp.join(out_dir, 'latency.png'), plot_backend,
         f'batch 1, {threads} thread(s), torch {torch.__version__}, '
         f'onnxruntime {onnxruntime.__version__}; {load_before}')
    logger.info('%s\n\n%s', header, table)
    return dict(rows=rows, gemm_gflops=gemm, environment=environment)
