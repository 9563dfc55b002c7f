"""Export a fused MobileOne classifier / SSDLite / DeepLabV3 to ONNX and verify it.

Usage: ``python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx``
(options: ``--help``; details in docs/deployment.md).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmobileone.deployment.export import run_export  # noqa: E402

if __name__ == '__main__':
    run_export()
