"""Latency benchmark the paper's way: MobileOne (unfused / fused) vs mobile baselines.

Usage: ``python tools/analysis/benchmark_latency.py [--threads 1] [--runs 100] [--models ...]``
(details and this machine's results in docs/benchmarks.md).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deployment.benchmark import run_benchmark  # noqa: E402

if __name__ == '__main__':
    run_benchmark()
