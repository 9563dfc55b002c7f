"""Run the quickstart over seeds and CPU paths and print the spread of its results.

Usage::

    python tools/analysis/quickstart_spread.py [--seeds 0 1 2 3 4] [--isa default avx2] \\
        [--out-dir work_dirs/quickstart_spread] [--jobs 1] [-- QUICKSTART ARGS ...]

Each run is ``tools/quickstart.py --seed S`` in its own process (the CPU path must be chosen
before torch loads): ``default`` is whatever this CPU offers, ``avx2`` sets
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``. Float rounding differs between the two, so
this shows whether the result holds on another machine. Writes ``OUT_DIR/spread.md`` (the table
of docs/detection.md) and ``OUT_DIR/spread.json``; exit status 1 if a run failed.
"""
import argparse
import json
import logging
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmmobileone.errors import MMMobileOneError  # noqa: E402
from tools.common import add_debug_flag, run_tool  # noqa: E402

#: CPU path name -> environment it sets.
ISA_ENVIRONMENTS: Dict[str, Dict[str, str]] = {
    'default': {},
    'avx2': {'ATEN_CPU_CAPABILITY': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2'},
}
logger = logging.getLogger('mmmobileone.quickstart_spread')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='tools/quickstart.py over seeds and CPU paths: the spread of its mAP')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--isa', nargs='+', default=list(ISA_ENVIRONMENTS),
                        choices=list(ISA_ENVIRONMENTS))
    parser.add_argument('--out-dir', default='work_dirs/quickstart_spread')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at a time (each then gets cores / jobs threads)')
    parser.add_argument('quickstart_args', nargs=argparse.REMAINDER,
                        help='after --: passed on to tools/quickstart.py')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def _run(out_dir: str, seed: int, isa: str, threads: int, extra: List[str]) -> Dict:
    name = f'{isa}_seed{seed}'
    work_dir = osp.join(out_dir, name)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, **ISA_ENVIRONMENTS[isa], OMP_NUM_THREADS=str(threads))
    command = [sys.executable, osp.join(ROOT, 'tools', 'quickstart.py'), '--seed', str(seed),
               '--work-dir', work_dir, '--data-root', osp.join(out_dir, 'data', name), *extra]
    start = time.time()
    with open(osp.join(work_dir, 'quickstart.log'), 'w') as log:
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    summary_file = osp.join(work_dir, 'summary.json')
    if code or not osp.isfile(summary_file):
        logger.error('%s failed (exit %d): see %s', name, code, log.name)
        return dict(seed=seed, isa=isa, failed=True)
    with open(summary_file) as f:
        summary = json.load(f)
    logger.info('%s: mAP@0.5 %.3f in %.1f min', name, summary['bbox_mAP_50'],
                (time.time() - start) / 60)
    return dict(summary, isa=isa, failed=False)


def format_table(runs: Sequence[Dict]) -> str:
    """The markdown table of the runs and one line with the range of mAP@0.5."""
    lines = ['| CPU path | kernels | seed | threads | training (min) | bbox mAP | **mAP@0.5** | '
             'mAP@0.75 | deploy.pth mAP@0.5 |', '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for run in runs:
        if run['failed']:
            lines.append(f'| {run["isa"]} | | {run["seed"]} | failed | | | | | |')
            continue
        lines.append(f'| {run["isa"]} | {run["cpu_capability"]} | {run["seed"]} | '
                     f'{run["threads"]} | {run["train_minutes"]:.1f} | {run["bbox_mAP"]:.3f} | '
                     f'**{run["bbox_mAP_50"]:.3f}** | {run["bbox_mAP_75"]:.3f} | '
                     f'{run["deploy_bbox_mAP_50"]:.3f} |')
    done = [r['bbox_mAP_50'] for r in runs if not r['failed']]
    if done:
        lines += ['', f'mAP@0.5 over {len(done)} runs: min {min(done):.3f}, max {max(done):.3f}, '
                  f'spread {max(done) - min(done):.3f}, mean {sum(done) / len(done):.3f}.']
    return '\n'.join(lines) + '\n'


def spread(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    extra = [a for a in args.quickstart_args if a != '--']
    os.makedirs(args.out_dir, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [(seed, isa) for isa in args.isa for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(lambda job: _run(args.out_dir, *job, threads, extra), jobs))
    text = format_table(runs)
    with open(osp.join(args.out_dir, 'spread.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out_dir, 'spread.json'), 'w') as f:
        json.dump(runs, f, indent=1)
    logger.info('\n%s', text)
    failed = [f'{r["isa"]}_seed{r["seed"]}' for r in runs if r['failed']]
    if failed:
        raise MMMobileOneError(f'quickstart run(s) {", ".join(failed)} failed: see '
                               f'quickstart.log in their folders under {args.out_dir}')
    return runs


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(spread, argv)


if __name__ == '__main__':
    sys.exit(main())
