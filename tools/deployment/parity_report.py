"""Regenerate the export-parity tables of docs/deployment.md (sections 2 and 3).

Usage::

    python tools/deployment/parity_report.py --markdown onnx            # section 2
    python tools/deployment/parity_report.py --markdown runtimes sizes  # section 3

Shipped configs with random weights and BatchNorm statistics calibrated on a few random
batches, fused, exported by each backend and run on a random check input
(:mod:`mmmobileone.analysis.parity_report`). Prints the markdown tables on stdout; each
export's time is logged (machine-dependent, not tabulated). ExecuTorch and LiteRT conversions
take 20-40 s each on 2 cores: the section 3 command takes several minutes.
"""
import argparse
import contextlib
import logging
import os.path as osp
import sys
import tempfile
from typing import List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.analysis.latency import set_threads  # noqa: E402
from mmmobileone.analysis.machine import cpu_capability  # noqa: E402
from mmmobileone.analysis.parity_report import (LAYOUTS, Measurement, Network,  # noqa: E402
                                                markdown_table, measure)
from mmmobileone.deploy.backends import backend_names  # noqa: E402
from tools.common import ROOT, add_debug_flag, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.parity_report')


def _config(path: str) -> str:
    return osp.join(ROOT, 'configs', path)


#: Section 2: one ONNX export per task at the configs' full input sizes, checked at batch 2
#: (the dynamic batch axis) where memory allows.
ONNX_NETWORKS = [
    Network('S4 classifier', _config('mobileone_s4_imagenet.py'), (224, 224), 2),
    Network('SSDLite-S2', _config('ssdlite_mobileone_s2_coco.py'), (320, 320), 2),
    Network('DeepLabV3-S1', _config('deeplabv3_mobileone_s1_voc.py'), (512, 512), 1),
]
#: Section 3: the three tasks on every runtime.
RUNTIME_NETWORKS = [
    Network('S0 classifier', _config('mobileone_s0_imagenet.py'), (224, 224)),
    Network('SSDLite-mu1', _config('quickstart/ssdlite_mobileone_mu1_synthetic.py'), (128, 128)),
    Network('DeepLabV3-S0', _config('deeplabv3_mobileone_s0_voc.py'), (512, 512)),
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export random, BatchNorm-calibrated shipped networks with every runtime '
        'backend and print the parity tables of docs/deployment.md.')
    parser.add_argument('--markdown', nargs='+', choices=LAYOUTS, required=True,
                        metavar='LAYOUT',
                        help=f'tables to print: onnx (section 2), runtimes and sizes (section '
                        f'3); choose from {list(LAYOUTS)}')
    parser.add_argument('--backends', nargs='+', metavar='NAME',
                        help='runtimes / sizes tables: backends (default: every registered one)')
    parser.add_argument('--threads', type=int, default=1,
                        help='PyTorch intra-op threads (the runtimes run on 1): float32 results '
                        'change in the last bits with the thread count (default 1)')
    parser.add_argument('--work-dir',
                        help='keep the exported files here (default: a temporary folder)')
    add_debug_flag(parser)
    return parser.parse_args(argv)


def report(argv: Optional[Sequence[str]] = None) -> str:
    """Measure what the requested tables need, print them and return the printed text."""
    args = parse_args(argv)
    backends = list(args.backends or backend_names())
    set_threads(args.threads)
    # converters' progress output (litert-torch prints to stdout) goes to stderr: stdout is
    # the tables only
    with tempfile.TemporaryDirectory(prefix='parity_report_') as temporary, \
            contextlib.redirect_stdout(sys.stderr):
        work_dir = args.work_dir or temporary
        logger.info('CPU kernels: %s; PyTorch threads: %d', cpu_capability(), args.threads)
        onnx_rows: List[Measurement] = []
        runtime_rows: List[Measurement] = []
        if 'onnx' in args.markdown:
            onnx_rows = [measure(n, ['onnx'], osp.join(work_dir, 'onnx_table'), n.check_batch)
                         for n in ONNX_NETWORKS]
        if {'runtimes', 'sizes'} & set(args.markdown):
            runtime_rows = [measure(n, backends, osp.join(work_dir, 'runtimes'))
                            for n in RUNTIME_NETWORKS]
    tables = [markdown_table(layout, onnx_rows if layout == 'onnx' else runtime_rows, backends)
              for layout in args.markdown]
    text = '\n\n'.join(tables)
    print(text)
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(report, argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
