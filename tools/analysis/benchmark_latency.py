"""Latency benchmark the paper's way: MobileOne (unfused / fused / INT8) vs mobile baselines,
in PyTorch and the phone / edge runtimes.

Usage: ``python tools/analysis/benchmark_latency.py [--threads 1] [--runs 100] [--models ...]
[--backends torch ort executorch litert ncnn] [--no-int8]`` (details and this machine's results
in docs/benchmarks.md; the runtimes need the deploy environment).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.analysis.benchmark import (BACKENDS, GROUPS, INT8_BACKENDS, Entry,  # noqa: E402
                                            replot, run_benchmark)
from mmmobileone.errors import ConfigError  # noqa: E402
from tools.common import ROOT, add_debug_flag, run_tool  # noqa: E402


def _ours(config: str) -> str:
    return osp.join(ROOT, 'configs', config)


#: The models of the benchmark (our configs are read from this checkout's configs/).
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


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Latency of MobileOne (unfused / fused / INT8; PyTorch, ONNX Runtime, '
        'ExecuTorch + XNNPACK, LiteRT, ncnn) against '
        'MobileNetV2/V3, EfficientNet-B0, ResNet-18, RepVGG-A0, and SSDLite / DeepLabV3 pairs. '
        'Batch 1, warm-up, median and minimum of many runs, fixed threads.')
    parser.add_argument('--models', nargs='+', metavar='NAME',
                        help=f'subset by name (default: all): {[e.name for e in ENTRIES]}')
    parser.add_argument('--groups', nargs='+', default=list(GROUPS), choices=GROUPS)
    parser.add_argument('--runs', type=int, default=100, help='timed runs (classification)')
    parser.add_argument('--dense-runs', type=int, default=10,
                        help='timed runs for the detection and segmentation models')
    parser.add_argument('--warmup', type=int, default=10, help='untimed runs before timing')
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads for PyTorch and ONNX Runtime (inter-op: 1)')
    parser.add_argument('--backends', nargs='+', default=['torch', 'ort'], choices=BACKENDS,
                        help='runtimes to time (default: torch ort; the others need the deploy '
                        'environment)')
    parser.add_argument('--dense-backends', nargs='+', choices=BACKENDS,
                        help='runtimes for the detection / segmentation models (default: '
                        '--backends)')
    parser.add_argument('--no-int8', action='store_true',
                        help=f'skip the static INT8 form (timed on {list(INT8_BACKENDS)})')
    parser.add_argument('--int8-groups', nargs='+', default=['classification'], choices=GROUPS,
                        help='model groups timed in INT8 too (default: classification)')
    parser.add_argument('--int8-models', nargs='+', metavar='NAME',
                        help='only these models in INT8 (default: every model of the groups)')
    parser.add_argument('--plot-backend', default='ort', choices=BACKENDS,
                        help='backend whose fused latency the plot and GFLOP/s use')
    parser.add_argument('--out-dir', default='work_dirs/benchmark_latency',
                        help='writes latency.md, latency.json and latency.png here')
    parser.add_argument('--replot', metavar='JSON',
                        help='only redraw latency.png in --out-dir from a latency.json written '
                        'by an earlier run (no measurement)')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def benchmark(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the benchmark as the command line says; returns its results (raises on errors)."""
    args = parse_args(argv)
    if args.replot:
        replot(args.replot, args.out_dir, args.plot_backend)
        return {}
    known = {e.name for e in ENTRIES}
    unknown = sorted(set(args.models or []) - known)
    if unknown:
        raise ConfigError(f'unknown models {unknown}; choose from {sorted(known)}')
    entries = [e for e in ENTRIES if e.group in args.groups
               and (not args.models or e.name in args.models)]
    return run_benchmark(entries, runs=args.runs, dense_runs=args.dense_runs,
                         warmup=args.warmup, threads=args.threads, backends=args.backends,
                         int8=not args.no_int8, int8_groups=args.int8_groups,
                         int8_models=args.int8_models, dense_backends=args.dense_backends,
                         plot_backend=args.plot_backend, out_dir=args.out_dir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(benchmark, argv, docs='docs/benchmarks.md')


if __name__ == '__main__':
    sys.exit(main())
