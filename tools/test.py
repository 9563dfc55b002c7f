"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out F.pkl] [--show-dir D]``.

Fuses the network before inference unless ``--no-fuse``; see docs/workflow.md for the flags.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmmobileone.cli import main_test  # noqa: E402

if __name__ == '__main__':
    sys.exit(main_test())
