"""Tiny data, configs and config shrinkers for the workflow tests.

Everything is small enough to train a few iterations on a CPU in about a second: a MobileOne
with one block per stage (stage channels 8, 16, 32, 64, SE on the last block), 32x32 or 64x64
images, a few images per class. The data comes from the package's generators
(:mod:`mmmobileone.datasets.synthetic`), called with small sizes; each ``make_*_data`` below
writes the data its ``*_config`` reads.
"""
import importlib
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.config import Config

from mmmobileone.datasets.preflight import iter_dataset_cfgs
from mmmobileone.datasets.synthetic import (coco_paths, generate_ade20k, generate_coco,
                                            generate_imagenet)

#: A custom MobileOne: one block per stage, two conv branches, SE in stage 4.
TINY_ARCH = dict(num_blocks=[1, 1, 1, 1], width_factor=[0.125, 0.125, 0.125, 0.125],
                 num_conv_branches=[2, 2, 2, 2], num_se_blocks=[0, 0, 0, 1],
                 stem_num_conv_branches=2)
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]

#: Classes of the tiny data (folder names; COCO category names; seg label names 0, 1, 2).
CLS_CLASSES = ('cat', 'dog', 'fox')
DET_CLASSES = ('sports ball', 'book')
SEG_CLASSES = ('background', 'red', 'green')


def make_cls_data(root: str, per_class: int = 4, size: int = 32) -> str:
    """:data:`CLS_CLASSES` as class folders ``root/{train,val}/CLASS/*.JPEG``; returns ``root``.

    ``per_class`` images per class in each split (ImageNet-style folders without ``meta/``).
    """
    generate_imagenet(root, classes=CLS_CLASSES, train_per_class=per_class,
                      val_per_class=per_class, image_size=size, meta=False, seed=0)
    return root


def make_det_data(root: str, num_images: int = 4, size: int = 64) -> str:
    """COCO-format shapes of :data:`DET_CLASSES` in the flat layout; returns ``root``.

    ``root/images/*.jpg``, ``root/train.json`` (``num_images`` images) and ``root/val.json``
    (2 images), 1 to 3 objects per image.
    """
    generate_coco(root, num_train=num_images, num_val=2, classes=DET_CLASSES, image_size=size,
                  max_objects=3, seed=1, layout='flat')
    return root


def make_seg_data(root: str, num_images: int = 4, size: int = 32) -> str:
    """Labels 0, 1, 2 (:data:`SEG_CLASSES`) in ADE20k's folders; returns ``root``.

    ``root/images/{training,validation}/*.jpg`` and ``root/annotations/...`` label PNGs,
    ``num_images`` per split.
    """
    generate_ade20k(root, num_train=num_images, num_val=num_images, image_size=(size, size),
                    num_classes=len(SEG_CLASSES) - 1, seed=2)
    return root


VISUALIZATION = dict(mmpretrain=('VisualizationHook', 'UniversalVisualizer'),
                     mmdet=('DetVisualizationHook', 'DetLocalVisualizer'),
                     mmseg=('SegVisualizationHook', 'SegLocalVisualizer'))


#: ``default_hooks`` entries of configs/_base_/runtime_safeguards.py (test configs declare them).
SAFEGUARD_HOOKS = dict(
    finite_loss=dict(type='mmmobileone.FiniteLossHook'),
    epoch_seed=dict(type='mmmobileone.EpochSeedHook'),
    pretrained_check=dict(type='mmmobileone.PretrainedInitCheckHook'))
#: The checked image loading every test pipeline uses (as the shipped configs).
LOAD_IMAGE = 'mmmobileone.LoadImageFromFile'


def _runtime(scope: str, work_dir: str, max_epochs: int, ema: bool,
             extra_hooks: Optional[list]) -> Dict:
    hooks = []
    if ema:
        hooks.append(dict(type='EMAHook', momentum=0.5, priority='ABOVE_NORMAL'))
    hooks.append(dict(type='mmmobileone.ReparamHook'))
    hooks += list(extra_hooks or [])
    vis_hook, visualizer = VISUALIZATION[scope]
    imports = ['mmmobileone', 'mmmobileone.integrations.mmcv'] + (
        ['mmmobileone.integrations.mmdet'] if scope == 'mmdet' else [])
    for module in imports:  # as Config.fromfile would: tests also build Runners from the dicts
        importlib.import_module(module)
    return dict(
        default_scope=scope,
        custom_imports=dict(imports=imports, allow_failed_imports=False),
        work_dir=work_dir,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        # the safeguards of configs/_base_/runtime_safeguards.py, as every shipped config
        default_hooks=dict(SAFEGUARD_HOOKS, logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='mmmobileone.SafeCheckpointHook', interval=1),
                           visualization=dict(type=vis_hook)),
        visualizer=dict(type=visualizer, vis_backends=[dict(type='LocalVisBackend')]),
        custom_hooks=hooks,
        randomness=dict(seed=0),
        log_level='WARNING',
    )


def _loader(dataset: Dict, batch_size: int, shuffle: bool) -> Dict:
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle), dataset=dataset)


def cls_config(data_root: str, work_dir: str, max_epochs: int = 2, ema: bool = True,
               norm_cfg: Optional[Dict] = None, extra_hooks: Optional[list] = None,
               deterministic: bool = False) -> Dict:
    """mmpretrain ImageClassifier with the tiny MobileOne on :func:`make_cls_data` data.

    ``deterministic`` drops the random flip and the shuffling, so that a resumed run repeats an
    uninterrupted one exactly.
    """
    backbone = dict(type='mmmobileone.MobileOne', arch=TINY_ARCH, out_indices=(3, ))
    if norm_cfg:
        backbone['norm_cfg'] = norm_cfg
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=len(CLS_CLASSES),
                               mean=MEAN, std=STD, to_rgb=True),
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=len(CLS_CLASSES), in_channels=64,
                  loss=dict(type='CrossEntropyLoss'), topk=(1, )))

    def dataset(split, pipeline):
        return dict(type='CustomDataset', data_root=data_root, data_prefix=split,
                    pipeline=pipeline)

    train_pipeline = [dict(type=LOAD_IMAGE), dict(type='RandomFlip', prob=0.5),
                      dict(type='PackInputs')]
    if deterministic:
        train_pipeline.pop(1)
    test_pipeline = [dict(type=LOAD_IMAGE), dict(type='PackInputs')]
    evaluator = dict(type='Accuracy', topk=(1, ))
    return dict(
        model=model,
        train_dataloader=_loader(dataset('train', train_pipeline), 4, not deterministic),
        val_dataloader=_loader(dataset('val', test_pipeline), 4, False),
        test_dataloader=_loader(dataset('val', test_pipeline), 4, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmpretrain', work_dir, max_epochs, ema, extra_hooks))


def det_config(data_root: str, work_dir: str, max_epochs: int = 1, ema: bool = True) -> Dict:
    """mmdet RetinaNet with the tiny MobileOne (stages 3, 4 + FPN) on :func:`make_det_data`.

    Trains on ``train.json``; validates and tests on ``val.json``.
    """
    model = dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=MEAN, std=STD, bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='mmmobileone.MobileOne', arch=TINY_ARCH, out_indices=(2, 3)),
        neck=dict(type='FPN', in_channels=[32, 64], out_channels=16, start_level=0,
                  add_extra_convs='on_input', num_outs=3),
        bbox_head=dict(
            type='RetinaHead', num_classes=len(DET_CLASSES), in_channels=16, stacked_convs=1,
            feat_channels=16,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2,
                                  scales_per_octave=1, ratios=[1.0], strides=[16, 32, 64]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                            target_stds=[1.0] * 4),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))
    metainfo = dict(classes=DET_CLASSES)
    train_pipeline = [dict(type=LOAD_IMAGE), dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='Resize', scale=(64, 64), keep_ratio=True),
                      dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
    test_pipeline = [dict(type=LOAD_IMAGE),
                     dict(type='Resize', scale=(64, 64), keep_ratio=True),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                           'img_shape', 'scale_factor'))]

    def dataset(split, pipeline, test_mode):
        ann_file, images = coco_paths(split, layout='flat')
        return dict(type='mmmobileone.CocoDataset', data_root=data_root, ann_file=ann_file,
                    data_prefix=dict(img=f'{images}/'), metainfo=metainfo, pipeline=pipeline,
                    test_mode=test_mode)

    evaluator = dict(type='mmmobileone.CocoMetric',
                     ann_file=osp.join(data_root, coco_paths('val', layout='flat')[0]),
                     metric='bbox')
    return dict(
        model=model,
        train_dataloader=_loader(dataset('train', train_pipeline, False), 2, True),
        val_dataloader=_loader(dataset('val', test_pipeline, True), 2, False),
        test_dataloader=_loader(dataset('val', test_pipeline, True), 2, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmdet', work_dir, max_epochs, ema, None))


def seg_config(data_root: str, work_dir: str, max_epochs: int = 1, ema: bool = True) -> Dict:
    """mmseg EncoderDecoder (output stride 8, FCN head) with the tiny MobileOne.

    ``BaseSegDataset`` on :func:`make_seg_data` data: labels 0, 1, 2 are the three classes.
    """
    model = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True,
                               size=(32, 32), pad_val=0, seg_pad_val=255),
        backbone=dict(type='mmmobileone.MobileOne', arch=TINY_ARCH, out_indices=(3, ),
                      strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)),
        decode_head=dict(type='FCNHead', in_channels=64, channels=16, num_convs=1,
                         concat_input=False, num_classes=len(SEG_CLASSES),
                         norm_cfg=dict(type='BN'), align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    pipeline = [dict(type=LOAD_IMAGE), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]

    def dataset(split):
        return dict(type='BaseSegDataset', data_root=data_root,
                    data_prefix=dict(img_path=f'images/{split}',
                                     seg_map_path=f'annotations/{split}'),
                    img_suffix='.jpg', seg_map_suffix='.png', pipeline=pipeline,
                    metainfo=dict(classes=SEG_CLASSES,
                                  palette=[[0, 0, 0], [220, 30, 30], [30, 220, 30]]))

    evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    return dict(
        model=model,
        train_dataloader=_loader(dataset('training'), 2, True),
        val_dataloader=_loader(dataset('validation'), 2, False),
        test_dataloader=_loader(dataset('validation'), 2, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmseg', work_dir, max_epochs, ema, None))


def write_config(cfg: Dict, path: str) -> str:
    """Dump a config dict as a Python config file; returns ``path``."""
    Config(cfg).dump(path)
    return path


def small_run_options(cfg: Any,
                      data_root: str,
                      crop_size: int = 32,
                      max_iters: int = 2,
                      batch_size: int = 2) -> List[str]:
    """``--cfg-options`` entries that shrink a segmentation config to a quick run.

    Only the data location, the crop (with the resize scales that go with it: ``(4c, c)`` for
    crop ``c``, as mmseg's ``(2048, 512)`` for 512), the number of iterations and the batch size
    change; everything else (model, optimizer, hooks) stays the shipped config's. Data loading
    runs in the main process (``num_workers=0``), the backbone starts from random weights
    (``init_cfg=None``: no download), and checkpoints leave out the optimizer state and the extra
    "best" copy (``save_optimizer=False``, ``save_best=None``), which only cost disk time here.

    Args:
        cfg: An mmengine ``Config`` of an iteration-based segmentation config.
        data_root: Replaces every dataset's ``data_root``.
        crop_size: Square crop (and padded input) size.
        max_iters: Training iterations; validation and checkpointing happen once, at the end.
        batch_size: Training batch size.

    Returns:
        ``key=value`` strings for ``tools/train.py`` / ``tools/test.py --cfg-options``.
    """
    crop = f'({crop_size},{crop_size})'
    options = [
        f'model.data_preprocessor.size={crop}', 'model.backbone.init_cfg=None',
        f'train_dataloader.batch_size={batch_size}'
    ]
    if 'train_cfg' in cfg and 'max_iters' in cfg.train_cfg:
        options += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
                    f'default_hooks.checkpoint.interval={max_iters}']
    if 'checkpoint' in cfg.get('default_hooks', {}):
        options += ['default_hooks.checkpoint.save_optimizer=False',
                    'default_hooks.checkpoint.save_best=None']
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        if cfg.get(key) is None:
            continue
        options += [f'{key}.num_workers=0', f'{key}.persistent_workers=False']
        for where, dataset in iter_dataset_cfgs(cfg[key]['dataset'], f'{key}.dataset'):
            options.append(f'{where}.data_root={data_root}')
            for i, transform in enumerate(dataset.get('pipeline', [])):
                if 'crop_size' in transform:
                    options.append(f'{where}.pipeline.{i}.crop_size={crop}')
                if transform.get('type') in ('Resize', 'RandomResize') and 'scale' in transform:
                    options.append(f'{where}.pipeline.{i}.scale=({4 * crop_size},{crop_size})')
    return options


def train_tiny_classifier(root: str, per_class: int, **cfg_options) -> Dict:
    """Write classification data and a :func:`cls_config` under ``root`` and train it with
    ``tools/train.py``'s entry point; returns the paths and the runner."""
    from tools.train import train
    data_root = make_cls_data(osp.join(root, 'data'), per_class=per_class)
    cfg = cls_config(data_root, osp.join(root, 'unused'), **cfg_options)
    config = write_config(cfg, osp.join(root, 'tiny_cls.py'))
    work_dir = osp.join(root, 'work')
    runner = train([config, '--work-dir', work_dir])
    return dict(root=root, config=config, data_root=data_root, work_dir=work_dir, cfg=cfg,
                runner=runner, deploy=osp.join(work_dir, 'deploy.pth'))
