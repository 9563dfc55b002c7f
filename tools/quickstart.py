"""The quickstart: a MobileOne detector trained, tested, fused and shown, on CPU, in minutes.

``python tools/quickstart.py`` (or ``bash tools/quickstart.sh``, which sets up ``.venv`` first):

1. writes a small synthetic COCO-format dataset (coloured shapes named after COCO categories,
   exact boxes) to ``data/coco_synthetic/``;
2. trains ``configs/quickstart/ssdlite_mobileone_mu1_synthetic.py`` (SSDLite-MobileOne, derived
   from ``configs/ssdlite_mobileone_s2_coco.py``) with ``tools/train.py``'s machinery; the
   ReparamHook validates the fused network and writes ``deploy.pth``;
3. tests the training checkpoint and the fused ``deploy.pth`` with ``tools/test.py``'s
   machinery (COCO bbox mAP of both);
4. draws the fused model's detections on validation images into ``WORK_DIR/demo/vis/``.
"""
import argparse
import json
import logging
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmmobileone.analysis.machine import cpu_capability  # noqa: E402
from mmmobileone.apis import run_demo  # noqa: E402
from mmmobileone.datasets.synthetic import generate_coco  # noqa: E402
from tools.common import run_tool  # noqa: E402
from tools.test import test as run_test  # noqa: E402
from tools.train import train as run_train  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'quickstart', 'ssdlite_mobileone_mu1_synthetic.py')
CLASSES = ('umbrella', 'sports ball', 'pizza', 'book')  # the config's classes
logger = logging.getLogger('mmmobileone.quickstart')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a synthetic COCO-format dataset, train SSDLite-MobileOne on it '
        '(CPU), test it, fuse it and draw its detections')
    parser.add_argument('--data-root', default='data/coco_synthetic',
                        help='where the dataset is written (mmdet COCO layout)')
    parser.add_argument('--work-dir', default='work_dirs/quickstart',
                        help='logs, checkpoints, deploy.pth and demo pictures')
    parser.add_argument('--num-train', type=int, default=400, help='training images')
    parser.add_argument('--num-val', type=int, default=100, help='validation images')
    parser.add_argument('--epochs', type=int, help='override the config\'s epochs')
    parser.add_argument('--demo-images', type=int, default=8,
                        help='validation images to draw detections on')
    parser.add_argument('--seed', type=int, default=0, help='dataset and training seed')
    parser.add_argument('--config', default=CONFIG, help='quickstart config')
    return parser.parse_args(argv)


def _data_options(data_root: str):
    root = data_root.rstrip('/') + '/'
    ann = root + 'annotations/instances_val2017.json'
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')
            ] + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def _load() -> str:
    """The 1-minute load average (a busy machine trains slower)."""
    return f'{os.getloadavg()[0]:.1f}' if hasattr(os, 'getloadavg') else 'n/a'


def _step(number: int, text: str) -> None:
    logger.info(f'[{number}/4] {text}')


def run_quickstart(argv=None) -> dict:
    """Run the four steps; returns a summary (times, metrics, paths); raises on errors."""
    args = parse_args(argv)
    start = time.time()
    _step(1, f'writing a synthetic COCO-format dataset to {args.data_root}/')
    counts = generate_coco(args.data_root, num_train=args.num_train, num_val=args.num_val,
                           classes=CLASSES, seed=args.seed, overwrite=True)
    logger.info(f'      {counts}')

    options = _data_options(args.data_root) + [f'randomness.seed={args.seed}']
    if args.epochs:
        n = args.epochs
        options += [f'train_cfg.max_epochs={n}', f'train_cfg.val_interval={n}',
                    f'param_scheduler.1.T_max={n}', f'param_scheduler.1.end={n}',
                    f'default_hooks.checkpoint.interval={n}']
    _step(2, f'training {osp.relpath(args.config)} on CPU (progress below; '
          f'{os.cpu_count()} CPU cores visible)')
    train_start, load_before = time.time(), _load()
    runner = run_train([args.config, '--work-dir', args.work_dir, '--cfg-options', *options])
    train_minutes = (time.time() - train_start) / 60
    logger.info(f'      training took {train_minutes:.1f} min (load average before '
                f'{load_before}, after {_load()}: other processes share the CPUs)')
    checkpoint = osp.join(args.work_dir, f'epoch_{runner.epoch}.pth')
    deploy = osp.join(args.work_dir, 'deploy.pth')

    _step(3, 'testing the training checkpoint and the fused deploy.pth')
    metrics = run_test([args.config, checkpoint, '--work-dir', args.work_dir, '--cfg-options',
                        *options])
    fused = run_test([args.config, deploy, '--work-dir', args.work_dir, '--cfg-options',
                      *options, 'model.backbone.deploy=True'])

    _step(4, f'drawing the fused model\'s detections into {args.work_dir}/demo/vis/')
    val_dir = osp.join(args.data_root, 'val2017')
    images = sorted(osp.join(val_dir, n) for n in os.listdir(val_dir))[:args.demo_images]
    demo = run_demo(images, args.config, deploy, osp.join(args.work_dir, 'demo'))

    summary = dict(train_minutes=train_minutes, total_minutes=(time.time() - start) / 60,
                   bbox_mAP=metrics['coco/bbox_mAP'], bbox_mAP_50=metrics['coco/bbox_mAP_50'],
                   bbox_mAP_75=metrics['coco/bbox_mAP_75'],
                   deploy_bbox_mAP_50=fused['coco/bbox_mAP_50'], checkpoint=checkpoint,
                   deploy=deploy, demo=demo.written, seed=args.seed,
                   threads=torch.get_num_threads(), cpu_capability=cpu_capability())
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    logger.info(
        f'done in {summary["total_minutes"]:.1f} min (training {train_minutes:.1f} min): '
        f'bbox mAP {summary["bbox_mAP"]:.3f}, mAP@0.5 {summary["bbox_mAP_50"]:.3f} '
        f'(fused deploy.pth: mAP@0.5 {summary["deploy_bbox_mAP_50"]:.3f}); checkpoint '
        f'{checkpoint}, fused {deploy}, {len(demo.written)} pictures in '
        f'{osp.join(args.work_dir, "demo", "vis")}/')
    return summary


def main(argv=None) -> int:
    """The exit status: 0, or 1 for a user error (logged as one line)."""
    return run_tool(run_quickstart, argv)


if __name__ == '__main__':
    sys.exit(main())
