"""Command line shared by ``apple_to_mmmobileone.py`` and ``timm_to_mmmobileone.py``.

Converts a published MobileOne checkpoint into mmmobileone / mmpretrain keys; fails, writing
nothing, unless every tensor maps (see docs/deployment.md).
"""
import argparse
import logging
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.converters import (LAYOUTS, ConversionError, convert_state_dict,  # noqa: E402
                                    save_converted)
from mmmobileone.fileio import load_weights  # noqa: E402
from mmmobileone.models import ARCH_SETTINGS  # noqa: E402
from tools.common import add_debug_flag, run_tool  # noqa: E402

logger = logging.getLogger('mmmobileone.tools.convert')
WHAT = {'apple': "Apple's ml-mobileone (mobileone_sX.pth.tar, fused, or "
                 'mobileone_sX_unfused.pth.tar)',
        'timm': "timm's mobileone_sX.apple_in1k (pytorch_model.bin or model.safetensors)"}


def parse_args(argv: Optional[Sequence[str]] = None,
               source: Optional[str] = None) -> argparse.Namespace:
    """Arguments; ``source`` fixes the layout (otherwise ``--source`` chooses it)."""
    parser = argparse.ArgumentParser(
        description=f'Convert a MobileOne checkpoint from {WHAT.get(source, "Apple or timm")} '
        'into mmmobileone / mmpretrain keys. Fails, writing nothing, unless every tensor maps.')
    parser.add_argument('src', help='downloaded checkpoint')
    parser.add_argument('dst', help='output .pth (dict(meta=..., state_dict=...))')
    if source is None:
        parser.add_argument('--source', choices=sorted(LAYOUTS), required=True,
                            help='layout of the source checkpoint')
    parser.add_argument('--arch', default='auto', choices=['auto', *ARCH_SETTINGS],
                        help='MobileOne variant (default: recognised from the tensors)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='drop the classifier: keys backbone.* only, for init_cfg=dict('
                        "type='Pretrained', checkpoint=DST, prefix='backbone.') in detection "
                        'and segmentation configs')
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    args.source = source or args.source
    return args


def convert(argv: Optional[Sequence[str]] = None, source: Optional[str] = None) -> None:
    """Convert as the command line says (raises on a mismatch, listing every problem)."""
    args = parse_args(argv, source)
    try:
        result = convert_state_dict(load_weights(args.src), args.source, arch=args.arch,
                                    backbone_only=args.backbone_only)
    except ConversionError as error:
        raise ConversionError(f'cannot convert {args.src!r} ({args.source} layout): {error}')
    save_converted(result, args.dst, meta=dict(source_layout=args.source,
                                               source_file=osp.basename(args.src)))
    form = 'fused (build the model with deploy=True)' if result.fused else 'unfused'
    logger.info('wrote %s: MobileOne-%s, %s, %d tensors, %s', args.dst, result.arch, form,
                len(result.state_dict),
                'backbone only' if args.backbone_only else f'{result.num_classes} classes')


def main(argv: Optional[Sequence[str]] = None, source: Optional[str] = None) -> int:
    """Exit status: 0, or 1 with the full list of problems (nothing written)."""
    return run_tool(lambda a: convert(a, source), argv, docs='docs/deployment.md')


if __name__ == '__main__':
    sys.exit(main())
