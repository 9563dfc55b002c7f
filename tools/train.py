"""Train a MobileOne model: ``python tools/train.py CONFIG [--work-dir DIR] [...]``.

Serves mmpretrain, mmdet and mmseg configs; see docs/workflow.md for the flags.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmmobileone.cli import main_train  # noqa: E402

if __name__ == '__main__':
    sys.exit(main_train())
