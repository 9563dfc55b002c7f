"""Parameters and MACs of configs, fused and unfused.

Usage: ``python tools/analysis/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--form both]``
(details in docs/benchmarks.md).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deployment.flops import run_get_flops  # noqa: E402

if __name__ == '__main__':
    run_get_flops()
