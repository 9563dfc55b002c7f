"""Tiny on-disk datasets and configs for the workflow tests (classifier, detector, segmentor).

Everything is small enough to train a few iterations on a CPU in about a second: a MobileOne
with one block per stage (stage channels 8, 16, 32, 64, SE on the last block), 32x32 or 64x64
images, three images per class.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional

import numpy as np
from mmengine.config import Config
from PIL import Image

#: A custom MobileOne: one block per stage, two conv branches, SE in stage 4.
TINY_ARCH = dict(num_blocks=[1, 1, 1, 1], width_factor=[0.125, 0.125, 0.125, 0.125],
                 num_conv_branches=[2, 2, 2, 2], num_se_blocks=[0, 0, 0, 1],
                 stem_num_conv_branches=2)
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def _image(rng: np.random.Generator, size: int, colour) -> np.ndarray:
    noise = rng.integers(0, 60, (size, size, 3))
    return np.clip(np.asarray(colour)[None, None] + noise, 0, 255).astype(np.uint8)


def make_cls_data(root: str, classes=('cat', 'dog', 'fox'), per_class: int = 4,
                  size: int = 32) -> str:
    """Folder-per-class images under ``root/{train,val}/CLASS/*.png``; returns ``root``."""
    rng = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    for split in ('train', 'val'):
        for c, name in enumerate(classes):
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(_image(rng, size, colours[c % 3])).save(
                    osp.join(folder, f'{name}_{i}.png'))
    return root


def make_det_data(root: str, num_images: int = 4, size: int = 64) -> str:
    """COCO-format detection data: ``root/images/*.png`` and ``root/annotations.json``."""
    rng = np.random.default_rng(1)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        img = _image(rng, size, (90, 90, 90))
        boxes = [(4 + 2 * i, 6, 30, 28, 1), (34, 30, 24, 26 - i, 2)]
        for x, y, w, h, cat in boxes:
            img[y:y + h, x:x + w] = (220, 30, 30) if cat == 1 else (30, 30, 220)
            annotations.append(dict(id=len(annotations) + 1, image_id=i + 1, category_id=cat,
                                    bbox=[x, y, w, h], area=w * h, iscrowd=0))
        name = f'{i:04d}.png'
        Image.fromarray(img).save(osp.join(root, 'images', name))
        images.append(dict(id=i + 1, file_name=name, height=size, width=size))
    categories = [dict(id=1, name='red'), dict(id=2, name='blue')]
    with open(osp.join(root, 'annotations.json'), 'w') as f:
        json.dump(dict(info={}, licenses=[], images=images, annotations=annotations,
                       categories=categories), f)
    return root


def make_seg_data(root: str, num_images: int = 4, size: int = 32) -> str:
    """Segmentation data: ``root/img_dir/{train,val}/*.png`` with ``root/ann_dir/...`` labels."""
    rng = np.random.default_rng(2)
    for split in ('train', 'val'):
        os.makedirs(osp.join(root, 'img_dir', split), exist_ok=True)
        os.makedirs(osp.join(root, 'ann_dir', split), exist_ok=True)
        for i in range(num_images):
            img = _image(rng, size, (90, 90, 90))
            label = np.zeros((size, size), np.uint8)
            label[4:16 + i, 4:20] = 1
            label[18:30, 12 + i:30] = 2
            img[label == 1] = (220, 30, 30)
            img[label == 2] = (30, 220, 30)
            Image.fromarray(img).save(osp.join(root, 'img_dir', split, f'{i}.png'))
            Image.fromarray(label).save(osp.join(root, 'ann_dir', split, f'{i}.png'))
    return root


VISUALIZATION = dict(mmpretrain=('VisualizationHook', 'UniversalVisualizer'),
                     mmdet=('DetVisualizationHook', 'DetLocalVisualizer'),
                     mmseg=('SegVisualizationHook', 'SegLocalVisualizer'))


def _runtime(scope: str, work_dir: str, max_epochs: int, ema: bool,
             extra_hooks: Optional[list]) -> Dict:
    hooks = []
    if ema:
        hooks.append(dict(type='EMAHook', momentum=0.5, priority='ABOVE_NORMAL'))
    hooks.append(dict(type='mmmobileone.ReparamHook'))
    hooks += list(extra_hooks or [])
    vis_hook, visualizer = VISUALIZATION[scope]
    return dict(
        default_scope=scope,
        custom_imports=dict(imports=['mmmobileone'], allow_failed_imports=False),
        work_dir=work_dir,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=1),
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
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3, mean=MEAN, std=STD,
                               to_rgb=True),
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
                  loss=dict(type='CrossEntropyLoss'), topk=(1, )))

    def dataset(split, pipeline):
        return dict(type='CustomDataset', data_root=data_root, data_prefix=split,
                    pipeline=pipeline)

    train_pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5),
                      dict(type='PackInputs')]
    if deterministic:
        train_pipeline.pop(1)
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    evaluator = dict(type='Accuracy', topk=(1, ))
    return dict(
        model=model,
        train_dataloader=_loader(dataset('train', train_pipeline), 4, not deterministic),
        val_dataloader=_loader(dataset('val', test_pipeline), 4, False),
        test_dataloader=_loader(dataset('val', test_pipeline), 4, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmpretrain', work_dir, max_epochs, ema, extra_hooks))


def det_config(data_root: str, work_dir: str, max_epochs: int = 1, ema: bool = True) -> Dict:
    """mmdet RetinaNet with the tiny MobileOne (stages 3, 4 + FPN) on :func:`make_det_data`."""
    model = dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=MEAN, std=STD, bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='mmmobileone.MobileOne', arch=TINY_ARCH, out_indices=(2, 3)),
        neck=dict(type='FPN', in_channels=[32, 64], out_channels=16, start_level=0,
                  add_extra_convs='on_input', num_outs=3),
        bbox_head=dict(
            type='RetinaHead', num_classes=2, in_channels=16, stacked_convs=1, feat_channels=16,
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
    metainfo = dict(classes=('red', 'blue'))
    train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='Resize', scale=(64, 64), keep_ratio=True),
                      dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='Resize', scale=(64, 64), keep_ratio=True),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                           'img_shape', 'scale_factor'))]

    def dataset(pipeline, test_mode):
        return dict(type='CocoDataset', data_root=data_root, ann_file='annotations.json',
                    data_prefix=dict(img='images/'), metainfo=metainfo, pipeline=pipeline,
                    test_mode=test_mode)

    evaluator = dict(type='CocoMetric', ann_file=osp.join(data_root, 'annotations.json'),
                     metric='bbox')
    return dict(
        model=model,
        train_dataloader=_loader(dataset(train_pipeline, False), 2, True),
        val_dataloader=_loader(dataset(test_pipeline, True), 2, False),
        test_dataloader=_loader(dataset(test_pipeline, True), 2, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmdet', work_dir, max_epochs, ema, None))


def seg_config(data_root: str, work_dir: str, max_epochs: int = 1, ema: bool = True) -> Dict:
    """mmseg EncoderDecoder (output stride 8, FCN head) with the tiny MobileOne."""
    model = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True,
                               size=(32, 32), pad_val=0, seg_pad_val=255),
        backbone=dict(type='mmmobileone.MobileOne', arch=TINY_ARCH, out_indices=(3, ),
                      strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)),
        decode_head=dict(type='FCNHead', in_channels=64, channels=16, num_convs=1,
                         concat_input=False, num_classes=3, norm_cfg=dict(type='BN'),
                         align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]

    def dataset(split):
        return dict(type='BaseSegDataset', data_root=data_root,
                    data_prefix=dict(img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
                    img_suffix='.png', seg_map_suffix='.png', pipeline=pipeline,
                    metainfo=dict(classes=('background', 'red', 'green'),
                                  palette=[[0, 0, 0], [220, 30, 30], [30, 220, 30]]))

    evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    return dict(
        model=model,
        train_dataloader=_loader(dataset('train'), 2, True),
        val_dataloader=_loader(dataset('val'), 2, False),
        test_dataloader=_loader(dataset('val'), 2, False),
        val_evaluator=evaluator, test_evaluator=evaluator,
        **_runtime('mmseg', work_dir, max_epochs, ema, None))


def write_config(cfg: Dict, path: str) -> str:
    """Dump a config dict as a Python config file; returns ``path``."""
    Config(cfg).dump(path)
    return path
