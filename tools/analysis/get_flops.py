"""Parameters and MACs of configs, fused and unfused.

Usage: ``python tools/analysis/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--form both]``
(details in docs/benchmarks.md). ``--markdown {configs,paper,compact}`` writes only the markdown
table to stdout, exactly as the docs contain it; each table of parameters and MACs in README.md
and docs/ names the command that printed it, and ``tests/test_docs_tables.py`` reruns it.
"""
import argparse
import contextlib
import logging
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone import analysis  # noqa: E402  (attributes looked up per call: patchable)
from mmmobileone.analysis.complexity import MARKDOWN_LAYOUTS as LAYOUTS  # noqa: E402
from mmmobileone.deploy.outputs import TASKS  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402

FORMS = ('fused', 'unfused')
#: The forms each layout shows; ``None``: as ``--form`` says.
LAYOUT_FORMS = dict(configs=None, paper=('fused', ), compact=FORMS)
logger = logging.getLogger('mmmobileone.tools.get_flops')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and MACs (the paper\'s "FLOPs") of mmpretrain / mmdet / mmseg '
        'configs, fused (inference) and unfused (training) networks, batch 1.')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 224 / 320 / 512 by task)')
    parser.add_argument('--form', choices=['both', *FORMS], default='both')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS])
    parser.add_argument(
        '--markdown', choices=LAYOUTS,
        help='write only the markdown table to stdout, as in the docs: "configs" one row per '
        'config and form (docs/benchmarks.md), "paper" fused classifiers beside the paper\'s '
        'figures (README), "compact" one row per config, fused / unfused and the backbone\'s '
        'parameters (docs/segmentation.md); "paper" and "compact" ignore --form')
    add_cfg_options(parser)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def count_configs(args: argparse.Namespace) -> List[Dict]:
    """One :func:`~mmmobileone.analysis.config_complexity` row per config and form."""
    forms = LAYOUT_FORMS.get(args.markdown) or (FORMS if args.form == 'both' else (args.form, ))
    rows = []
    for config in args.configs:
        for form in forms:
            row = analysis.config_complexity(config, args.shape, fused=form == 'fused',
                                             task=args.task, cfg_options=args.cfg_options)
            row['config'] = osp.splitext(osp.basename(config))[0]
            logger.debug('%s, %s: %d parameters, %d MACs', row['config'], form, row['params'],
                         row['macs'])
            rows.append(row)
    return rows


def markdown(argv: Optional[Sequence[str]] = None) -> str:
    """The markdown table the command line ``argv`` prints (``--markdown`` defaults to
    ``configs``), without writing it anywhere."""
    args = parse_args(argv)
    return analysis.markdown_table(count_configs(args), args.markdown or 'configs')


def get_flops(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Count every config in every requested form and return the rows.

    Without ``--markdown`` the table is logged; with it, the table alone goes to stdout (the
    command's product, to paste into or compare with the docs).
    """
    args = parse_args(argv)
    if args.markdown:  # mmengine logs to stdout: keep the table alone there
        with contextlib.redirect_stdout(sys.stderr):
            rows = count_configs(args)
    else:
        rows = count_configs(args)
    table = analysis.markdown_table(rows, args.markdown or 'configs')
    if args.markdown:
        sys.stdout.write(table + '\n')
    else:
        logger.info('%s', table)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(get_flops, argv, docs='docs/benchmarks.md')


if __name__ == '__main__':
    sys.exit(main())
