"""Parameters and MACs of configs, fused and unfused.

Usage: ``python tools/analysis/get_flops.py CONFIG [CONFIG ...] [--shape H W] [--form both]``
(details in docs/benchmarks.md).
"""
import argparse
import logging
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deploy.outputs import TASKS  # noqa: E402
from tools.common import add_cfg_options, add_debug_flag, run_tool  # noqa: E402

FORMS = ('fused', 'unfused')
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
    add_cfg_options(parser)
    add_debug_flag(parser)
    return parser.parse_args(argv)


def get_flops(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Count every config in every requested form; log a markdown table and return the rows."""
    import mmmobileone  # noqa: F401  (registries)
    from mmmobileone.analysis import config_complexity, format_table
    args = parse_args(argv)
    forms = FORMS if args.form == 'both' else (args.form, )
    rows = []
    for config in args.configs:
        for form in forms:
            row = config_complexity(config, args.shape, fused=form == 'fused', task=args.task,
                                    cfg_options=args.cfg_options)
            row['config'] = osp.splitext(osp.basename(config))[0]
            rows.append(row)
    logger.info('%s', format_table(rows))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_tool(get_flops, argv, docs='docs/benchmarks.md')


if __name__ == '__main__':
    sys.exit(main())
