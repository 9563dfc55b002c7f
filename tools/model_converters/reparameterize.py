"""Fuse a training checkpoint into a deployed one.

``python tools/model_converters/reparameterize.py CONFIG CHECKPOINT OUT [--shape H W]``

CONFIG is the training config (classifier, detector or segmentor). The deployed checkpoint
loads into the same config with ``--cfg-options model.backbone.deploy=True``. Nothing is written
unless the fused model reproduces the training model's outputs. See docs/workflow.md.
"""
import argparse
import logging
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from mmmobileone.cli import load_config, report_user_error, setup_cli_logging  # noqa: E402

logger = logging.getLogger('mmmobileone.tools.reparameterize')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert a training checkpoint of a MobileOne '
                                     'classifier, detector or segmentor into a fused one')
    parser.add_argument('config', help='training config file')
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('out', help='output file for the deployed checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config entries')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='size of the random input that checks the outputs')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed relative output difference')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    setup_cli_logging()
    args = parse_args(argv)
    import mmmobileone  # noqa: F401  (registries, compatibility fixes)
    from mmmobileone.apis.convert import convert_checkpoint
    try:
        cfg = load_config(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        report = convert_checkpoint(cfg, args.checkpoint, args.out, tuple(args.shape),
                                    args.tolerance)
    except (FileNotFoundError, ValueError) as error:
        return report_user_error(error)
    logger.info(f'wrote {report.out_file}: {report.params_before:,} -> '
                f'{report.params_after:,} parameters, relative output error '
                f'{report.relative_error:.2e}; load it with model.backbone.deploy=True')
    return 0


if __name__ == '__main__':
    sys.exit(main())
