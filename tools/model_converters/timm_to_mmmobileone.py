"""Convert timm's mobileone_sX checkpoints into mmmobileone keys.

Usage: ``python tools/model_converters/timm_to_mmmobileone.py SRC DST``
[--arch auto] [--backbone-only]
(see docs/deployment.md).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.converters.cli import main  # noqa: E402

if __name__ == '__main__':
    main(source='timm')
