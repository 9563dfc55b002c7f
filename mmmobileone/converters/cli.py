"""Command line of ``tools/model_converters/{apple,timm}_to_mmmobileone.py``."""
import argparse
import logging
import os.path as osp
from typing import Dict, Optional, Sequence

from ..models.backbones import ARCH_SETTINGS
from ..utils import load_checkpoint_file
from .convert import ConversionError, convert_state_dict, save_converted
from .layouts import LAYOUTS

logger = logging.getLogger(__name__)


def load_source(path: str) -> Dict:
    """Load a downloaded checkpoint without executing code from it.

    ``.safetensors`` files need the ``safetensors`` package; everything else is read with
    ``torch.load(weights_only=True)``.
    """
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise ValueError(f'{path!r} is a safetensors file: install the safetensors package, '
                             'or use the pytorch_model.bin of the same release') from error
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint file {path!r} not found')
        return load_file(path)
    return load_checkpoint_file(path)


def build_parser(source: Optional[str] = None) -> argparse.ArgumentParser:
    """Argument parser; ``source`` fixes the layout (otherwise ``--source`` chooses it)."""
    what = {'apple': "Apple's ml-mobileone (mobileone_sX.pth.tar, fused, or "
                     'mobileone_sX_unfused.pth.tar)',
            'timm': "timm's mobileone_sX.apple_in1k (pytorch_model.bin or model.safetensors)"}
    parser = argparse.ArgumentParser(
        description=f'Convert a MobileOne checkpoint from {what.get(source, "Apple or timm")} '
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
    return parser


def main(argv: Optional[Sequence[str]] = None, source: Optional[str] = None) -> None:
    """Convert; on any mismatch exit with status 1 and the full list of problems."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    args = build_parser(source).parse_args(argv)
    layout = source or args.source
    try:
        result = convert_state_dict(load_source(args.src), layout, arch=args.arch,
                                    backbone_only=args.backbone_only)
    except (ConversionError, ValueError, FileNotFoundError) as error:
        raise SystemExit(f'error: cannot convert {args.src!r} ({layout} layout): {error}')
    save_converted(result, args.dst, meta=dict(source_layout=layout,
                                               source_file=osp.basename(args.src)))
    form = 'fused (build the model with deploy=True)' if result.fused else 'unfused'
    logger.info('wrote %s: MobileOne-%s, %s, %d tensors, %s', args.dst, result.arch, form,
                len(result.state_dict),
                'backbone only' if args.backbone_only else f'{result.num_classes} classes')
