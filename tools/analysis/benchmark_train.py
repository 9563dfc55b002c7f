"""Training-step benchmark: MobileOne training variants against mmpretrain's and timm's.

Usage: ``python tools/analysis/benchmark_train.py [--archs s0 mu1 deeplabv3-s1 ...]
[--variants looped moments moments+cp ...] [--batch 16] [--size 224] [--rounds 3]
[--threads 1] [--out-dir work_dirs/benchmark_train]``. One process, rounds alternating between
candidates, BatchNorm statistics calibrated on random batches, denormals flushed; writes
``train_step.md`` (table), ``train_step.json`` and ``train_step.png`` into ``--out-dir`` and
prints the table. Method and this machine's results: docs/benchmarks.md, section 3.
"""
import argparse
import json
import logging
import os
import os.path as osp
import platform
import sys
import time
from typing import Dict, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from mmmobileone.analysis.latency import flush_denormals, machine_load, set_threads  # noqa: E402
from mmmobileone.analysis.machine import cpu_capability  # noqa: E402
from mmmobileone.analysis.train_step import (CLASSIFIER_ARCHS, DENSE_MODELS,  # noqa: E402
                                             format_table, make_candidates, parse_variant, plot,
                                             result_rows, run_rounds, unit_graph_breaks)
from mmmobileone.errors import ConfigError  # noqa: E402
from tools.common import ROOT, add_debug_flag, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.tools')
MODELS = CLASSIFIER_ARCHS + tuple(DENSE_MODELS)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Training step (forward + backward + SGD) time and peak memory of '
        'MobileOne variants against mmpretrain and timm, one process, alternating rounds.')
    parser.add_argument('--archs', nargs='+', default=list(MODELS), choices=MODELS,
                        metavar='MODEL', help=f'models (default: all): {list(MODELS)}')
    parser.add_argument('--variants', nargs='+', default=['looped', 'moments', 'moments+cp'],
                        help='our variants: options joined by "+" from looped / moments '
                        '(branch form), cp (with_cp), cl (channels_last), compile '
                        '(torch.compile), bf16 (autocast)')
    parser.add_argument('--peers', nargs='*', default=['mmpretrain', 'timm'],
                        choices=['mmpretrain', 'timm'])
    parser.add_argument('--batch', type=int, default=16, help='classifier batch')
    parser.add_argument('--size', type=int, default=224, help='classifier input size')
    parser.add_argument('--dense-batch', type=int, default=4, help='SSDLite / DeepLabV3 batch')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds per candidate')
    parser.add_argument('--steps', type=int, default=1, help='steps per candidate per round')
    parser.add_argument('--threads', type=int, default=1, help='intra-op threads')
    parser.add_argument('--no-memory', action='store_true', help='skip the profiled step')
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'work_dirs', 'benchmark_train'))
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    for variant in args.variants:
        parse_variant(variant)
    if min(args.batch, args.size, args.dense_batch, args.rounds, args.steps, args.threads) < 1:
        raise ConfigError('--batch, --size, --dense-batch, --rounds, --steps and --threads '
                          'must be >= 1')
    return args


def environment(args: argparse.Namespace) -> Dict:
    """What the numbers depend on: versions, threads, CPU kernels, load."""
    import mmpretrain  # optional: mmpretrain (a peer), only for its version
    import timm  # optional: timm (a peer), only for its version
    return dict(torch=torch.__version__, mmpretrain=mmpretrain.__version__,
                timm=timm.__version__, threads=torch.get_num_threads(),
                cpu=cpu_capability(), machine=platform.machine(), cpus=os.cpu_count(),
                denormals_flushed=args.flush, date=time.strftime('%Y-%m-%d %H:%M UTC',
                                                                 time.gmtime()))


def benchmark(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    set_threads(args.threads)
    args.flush = flush_denormals()
    os.makedirs(args.out_dir, exist_ok=True)
    env = environment(args)
    env['load_before'] = machine_load()
    logger.info(f'{env}')
    if any('compile' in v for v in args.variants):
        env['unit_graph_breaks'] = unit_graph_breaks()
        logger.info(f'torch.compile graph breaks in a training-mode unit: '
                    f'{env["unit_graph_breaks"]}')
    rows, sizes = [], {}
    start = time.perf_counter()
    for model in args.archs:
        dense = model in DENSE_MODELS
        size = DENSE_MODELS[model][1] if dense else args.size
        batch = args.dense_batch if dense else args.batch
        sizes[model] = (size, batch)
        candidates = make_candidates(model, args.variants, args.peers, batch, size, root=ROOT)
        run_rounds(candidates, args.rounds, args.steps, measure_memory=not args.no_memory)
        rows += result_rows(candidates)
        del candidates
    env['load_after'] = machine_load()
    env['seconds'] = round(time.perf_counter() - start)
    table = format_table(rows, sizes)
    title = (f"MobileOne training step, {env['threads']} thread(s), {env['cpu']}, "
             f"torch {env['torch']}")
    with open(osp.join(args.out_dir, 'train_step.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.out_dir, 'train_step.json'), 'w') as f:
        json.dump(dict(environment=env, rows=rows, sizes=sizes, args=sys.argv[1:]), f,
                  indent=1)
    plot(rows, osp.join(args.out_dir, 'train_step.png'), title)
    logger.info(f"{env['load_before']} before, {env['load_after']} after; "
                f"{env['seconds']} s")
    print(table)
    return dict(environment=env, rows=rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(benchmark, argv)


if __name__ == '__main__':
    sys.exit(main())
