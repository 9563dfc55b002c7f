"""``tools/analysis/get_flops.py``: parameters and MACs of any config, fused and unfused."""
import argparse
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import DictAction

from ..models.complexity import count_params_and_macs
from .builder import build_model
from .export import DEFAULT_SIZES
from .wrappers import TASKS, infer_task, tensor_model

logger = logging.getLogger(__name__)

FORMS = ('fused', 'unfused')


def config_complexity(config, shape: Optional[Sequence[int]] = None, fused: bool = True,
                      task: str = 'auto', cfg_options: Optional[Dict] = None) -> Dict:
    """Parameters and MACs of one forward pass of the config's network (batch 1).

    Counts what the exported ONNX graph computes (see :mod:`.wrappers`): the classifier with
    its head, the detector up to its raw head outputs, the segmentor up to its logits. MACs are
    mmengine's counts (one multiply-add = 1), the paper's "FLOPs".

    Args:
        config: Config path or :class:`mmengine.Config`.
        shape: Input ``(H, W)``; default 224 / 320 / 512 for classification / detection /
            segmentation.
        fused: Count the re-parameterized network (what runs at inference).
        task: One of :data:`TASKS` or ``'auto'``.
        cfg_options: Config overrides.

    Returns:
        ``dict(params=int, macs=int, task=str, shape=(H, W), fused=bool)``.
    """
    model = build_model(config, None, fuse=fused, cfg_options=cfg_options)
    task = infer_task(model) if task == 'auto' else task
    height, width = shape or DEFAULT_SIZES[task]
    params, macs = count_params_and_macs(tensor_model(model, task), (1, 3, height, width))
    return dict(params=params, macs=macs, task=task, shape=(height, width), fused=fused)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Parameters and MACs (the paper\'s "FLOPs") of mmpretrain / mmdet / mmseg '
        'configs, fused (inference) and unfused (training) networks, batch 1.')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 224 / 320 / 512 by task)')
    parser.add_argument('--form', choices=['both', *FORMS], default='both')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries')
    return parser


def format_table(rows: List[Dict]) -> str:
    """Markdown table of :func:`config_complexity` results."""
    lines = ['| config | form | input | params (M) | MACs (G) |', '|---|---|---|---:|---:|']
    for row in rows:
        lines.append(f"| {row['config']} | {'fused' if row['fused'] else 'unfused'} | "
                     f"{row['shape'][0]}x{row['shape'][1]} | {row['params'] / 1e6:.3f} | "
                     f"{row['macs'] / 1e9:.3f} |")
    return '\n'.join(lines)


def run_get_flops(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Count every config in every requested form; log a markdown table and return the rows."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    args = build_parser().parse_args(argv)
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
