# SSDLite with a MobileOne-S2 backbone, COCO 2017, 320x320 (MobileOne paper, Sec. 4 and
# App. E.1; paper bbox mAP 26.6). mmdet's SSDLite recipe, inherited, with the paper's schedule:
# 200 epochs, SGD lr 0.05, momentum 0.9, weight decay 1e-4, batch 192 (8 GPUs x 24), linear
# warmup from 0.001x over 4500 iterations, then cosine.
#
#   python tools/train.py configs/ssdlite_mobileone_s2_coco.py
#   python tools/test.py configs/ssdlite_mobileone_s2_coco.py CHECKPOINT   # COCO bbox mAP
#
# With fewer GPUs or images per GPU add --auto-scale-lr (lr scales with the total batch / 192).
# The backbone starts from ImageNet weights, as in the paper: mmpretrain's released MobileOne-S2
# (configs/_base_/mobileone_pretrained.py), downloaded on first use. Offline, or with your own
# weights: --cfg-options model.backbone.init_cfg.checkpoint=PATH (a checkpoint of
# configs/mobileone_s2_imagenet.py, an mmpretrain one, or one converted by
# tools/model_converters/*_to_mmmobileone.py); model.backbone.init_cfg=None trains from scratch.
# See docs/detection.md.
_base_ = [
    'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
    './_base_/mobileone_pretrained.py', './_base_/runtime_safeguards.py'
]

custom_imports = dict(
    imports=_base_.safeguard_imports + ['mmmobileone.integrations.mmdet'],
    allow_failed_imports=False)

# MobileOne stages 3 and 4 (strides 16 and 32) feed SSDNeck, whose depthwise extra layers add
# strides 64..320; the first two neck outputs are the backbone features themselves.
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmmobileone.MobileOne',
        arch='s2',
        out_indices=(2, 3),
        init_cfg=_base_.mobileone_pretrained.s2),
    neck=dict(in_channels=(640, 2048), out_channels=(640, 2048, 512, 256, 256, 128)),
    # mmdet 3.3.0's SSDHead cannot predict (no `loss_cls`); FixedSSDHead is it, fixed.
    bbox_head=dict(
        type='mmmobileone.FixedSSDHead', in_channels=(640, 2048, 512, 256, 256, 128)))

# One epoch is one pass over COCO train2017 (the template repeats it 5 times per epoch).
# SeededSampler: every image's augmentation is drawn from (seed, epoch, index), not from the state
# of the persistent worker that loads it, so a resumed run repeats an uninterrupted one exactly
# (docs/workflow.md, "What survives what").
# mmdet's pipelines, COCO dataset and metric as mmmobileone's checked drop-ins (same arguments;
# COCO files as labelling tools write them, errors that name the file; runtime_safeguards.py).
train_pipeline = [
    dict(_base_.train_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.train_pipeline[1:]
]
test_pipeline = [
    dict(_base_.test_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.test_pipeline[1:]
]
train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    sampler=dict(type='mmmobileone.SeededSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='mmmobileone.CocoDataset',
        data_root='data/coco/',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='mmmobileone.CocoDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmmobileone.CocoMetric')
test_evaluator = val_evaluator

max_epochs = 200
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=4500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=192)

# the safeguards of runtime_safeguards.py (SafeCheckpointHook, FiniteLossHook, EpochSeedHook, ...)
default_hooks = dict(_base_.safeguard_hooks,
                     checkpoint=dict(type='mmmobileone.SafeCheckpointHook', interval=5,
                                     max_keep_ckpts=3))
# ReparamHook validates and tests the fused network and writes work_dir/deploy.pth.
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mmmobileone.ReparamHook'),
]
