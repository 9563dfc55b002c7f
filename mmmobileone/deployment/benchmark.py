"""``tools/analysis/benchmark_latency.py``: MobileOne against the usual mobile baselines.

For every model: parameters and MACs (unfused and fused), then latency at batch 1 of the
network only (the tensors an exported ONNX graph returns: no preprocessing, no NMS) with
PyTorch eager and ONNX Runtime, train-time (unfused) and re-parameterized (fused) forms. Each
model's variants are timed back to back so that their ratios (the fusion speedup) share the
machine's conditions; a large GEMM timed in the same run gives the attainable FLOP rate.
"""
import argparse
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

from ..models.complexity import count_params_and_macs, mobileone_classifier
from ..models.reparam import reparameterize_model
from .builder import build_model
from .latency import (gemm_gflops, machine_load, onnxruntime_forward, set_threads, time_callable,
                      torch_forward)
from .onnx_export import export_onnx
from .wrappers import tensor_model

logger = logging.getLogger(__name__)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BACKENDS = ('torch', 'ort')


@dataclass(frozen=True)
class Entry:
    """One model of the benchmark.

    Attributes:
        name: Label in the table and plot.
        group: ``classification``, ``detection`` or ``segmentation``.
        family: ``mobileone``, ``mobileone-mu`` or ``baseline`` (plot styling).
        source: A MobileOne arch name (classifier built directly) or a config path
            (``mmpretrain::`` / ``mmdet::`` / ``mmseg::`` prefixes read the libraries' own).
        size: Input height = width.
    """
    name: str
    group: str
    family: str
    source: str
    size: int


def _ours(config: str) -> str:
    return osp.join(ROOT, 'configs', config)


ENTRIES: List[Entry] = [
    *[Entry(f'MobileOne-{a.upper()}', 'classification', 'mobileone', a, 224)
      for a in ('s0', 's1', 's2', 's3', 's4')],
    *[Entry(f'MobileOne-{a}', 'classification', 'mobileone-mu', a, 224)
      for a in ('mu0', 'mu1', 'mu2')],
    Entry('MobileNetV2', 'classification', 'baseline',
          'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', 224),
    Entry('MobileNetV3-L', 'classification', 'baseline',
          'mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py', 224),
    Entry('EfficientNet-B0', 'classification', 'baseline',
          'mmpretrain::efficientnet/efficientnet-b0_8xb32_in1k.py', 224),
    Entry('ResNet-18', 'classification', 'baseline',
          'mmpretrain::resnet/resnet18_8xb32_in1k.py', 224),
    Entry('RepVGG-A0', 'classification', 'baseline',
          'mmpretrain::repvgg/repvgg-A0_8xb32_in1k.py', 224),
    Entry('SSDLite-MobileOne-S2', 'detection', 'mobileone',
          _ours('ssdlite_mobileone_s2_coco.py'), 320),
    Entry('SSDLite-MobileNetV2', 'detection', 'baseline',
          'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', 320),
    Entry('DeepLabV3-MobileOne-S1', 'segmentation', 'mobileone',
          _ours('deeplabv3_mobileone_s1_ade20k.py'), 512),
    Entry('DeepLabV3-MobileNetV2', 'segmentation', 'baseline',
          'mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py', 512),
]


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
    return tensor_model(build_model(entry.source, None, fuse=False), entry.group)


def measure(entry: Entry, runs: int, warmup: int, threads: int, backends: Sequence[str],
            workdir: str) -> Row:
    """Counts and latencies of one model, all variants back to back."""
    unfused = build_entry(entry)
    fusable = any(callable(getattr(m, 'switch_to_deploy', None)) for m in unfused.modules())
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Latency of MobileOne (unfused vs fused; PyTorch vs ONNX Runtime) against '
        'MobileNetV2/V3, EfficientNet-B0, ResNet-18, RepVGG-A0, and SSDLite / DeepLabV3 pairs. '
        'Batch 1, warm-up, median and minimum of many runs, fixed threads.')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help=f'subset by name (default: all): {[e.name for e in ENTRIES]}')
    parser.add_argument('--groups', nargs='+', default=['classification', 'detection',
                                                        'segmentation'],
                        choices=['classification', 'detection', 'segmentation'])
    parser.add_argument('--runs', type=int, default=100, help='timed runs (classification)')
    parser.add_argument('--dense-runs', type=int, default=10,
                        help='timed runs for the detection and segmentation models')
    parser.add_argument('--warmup', type=int, default=10, help='untimed runs before timing')
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads for PyTorch and ONNX Runtime (inter-op: 1)')
    parser.add_argument('--backends', nargs='+', default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument('--plot-backend', default='ort', choices=BACKENDS,
                        help='backend whose fused latency the plot and GFLOP/s use')
    parser.add_argument('--out-dir', default='work_dirs/benchmark_latency',
                        help='writes latency.md, latency.json and latency.png here')
    parser.add_argument('--replot', metavar='JSON',
                        help='only redraw latency.png in --out-dir from a latency.json written '
                        'by an earlier run (no measurement)')
    return parser


def replot(path: str, out_dir: str, backend: str) -> None:
    """Redraw the plot of an earlier run from its ``latency.json``."""
    with open(path) as f:
        saved = json.load(f)
    environment = saved['environment']
    os.makedirs(out_dir, exist_ok=True)
    plot([Row(**row) for row in saved['rows']], osp.join(out_dir, 'latency.png'), backend,
         f'batch 1, {environment["threads"]} thread(s), torch {environment["torch"]}, '
         f'onnxruntime {environment["onnxruntime"]}; {environment["load_before"]}')


def run_benchmark(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the benchmark; returns ``dict(rows, gemm_gflops, environment)``."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    args = build_parser().parse_args(argv)
    if args.replot:
        replot(args.replot, args.out_dir, args.plot_backend)
        return {}
    known = {e.name for e in ENTRIES}
    unknown = sorted(set(args.models or []) - known)
    if unknown:
        raise SystemExit(f'error: unknown models {unknown}; choose from {sorted(known)}')
    if args.plot_backend not in args.backends:
        raise SystemExit(f'error: --plot-backend {args.plot_backend} is not among --backends')
    entries = [e for e in ENTRIES if e.group in args.groups
               and (not args.models or e.name in args.models)]
    set_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    load_before = machine_load()
    gemm = gemm_gflops(threads=args.threads)
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for entry in entries:
            runs = args.runs if entry.group == 'classification' else args.dense_runs
            rows.append(measure(entry, runs, args.warmup if entry.group == 'classification'
                                else min(args.warmup, 2), args.threads, args.backends,
                                workdir))
    gemm_after = gemm_gflops(threads=args.threads)
    import onnxruntime
    environment = dict(
        threads=args.threads, runs=args.runs, dense_runs=args.dense_runs, warmup=args.warmup,
        torch=torch.__version__, onnxruntime=onnxruntime.__version__,
        cpu=platform.processor() or platform.machine(), load_before=load_before,
        load_after=machine_load(), gemm_gflops_before=gemm, gemm_gflops_after=gemm_after,
        seconds=round(time.time() - started))
    table = format_table(rows, max(gemm['best'], gemm_after['best']), args.plot_backend)
    header = (f'threads {args.threads}, {args.runs} runs ({args.dense_runs} for detection / '
              f'segmentation) after {args.warmup} warm-up runs; latency median / min in ms; '
              f'GFLOP/s from the fastest {args.plot_backend} run of the inference form; '
              f'1024x1024 GEMM before / after: PyTorch {gemm["torch"]:.0f} / '
              f'{gemm_after["torch"]:.0f}, ONNX Runtime {gemm["ort"]:.0f} / '
              f'{gemm_after["ort"]:.0f} GFLOP/s (share of the best); {load_before} (before), '
              f'{environment["load_after"]} (after); {environment["seconds"]} s')
    with open(osp.join(args.out_dir, 'latency.md'), 'w') as f:
        f.write(header + '\n\n' + table + '\n')
    with open(osp.join(args.out_dir, 'latency.json'), 'w') as f:
        json.dump(dict(environment=environment, rows=[asdict(r) for r in rows]), f, indent=1)
    plot(rows, osp.join(args.out_dir, 'latency.png'), args.plot_backend,
         f'batch 1, {args.threads} thread(s), torch {torch.__version__}, '
         f'onnxruntime {onnxruntime.__version__}; {load_before}')
    logger.info('%s\n\n%s', header, table)
    return dict(rows=rows, gemm_gflops=gemm, environment=environment)
