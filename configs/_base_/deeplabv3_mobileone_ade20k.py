# DeepLabV3-MobileOne on ADE20k (SceneParsing, 150 classes), mmseg's layout:
# data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}. Annotation value 0
# ("other") is ignored and 1-150 become classes 0-149 (reduce_zero_label).
_base_ = [
    'mmseg::_base_/datasets/ade20k.py', 'mmseg::_base_/default_runtime.py',
    './deeplabv3_mobileone.py'
]

# 50 epochs as iterations: ceil(20210 / 16) = 1264 iterations per epoch at a total batch of 16
# (8 GPUs x 2 images), 50 x 1264 = 63200 iterations. Another total batch B: 50 * ceil(20210 / B).
num_train_images = 20210
total_batch_size = 16
iters_per_epoch = -(-num_train_images // total_batch_size)
max_iters = 50 * iters_per_epoch
warmup_iters = 500
eval_interval = 5 * iters_per_epoch

data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
# the paper's augmentations only: random resize, random crop, horizontal flip
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=150))

param_scheduler = [
    # linear warmup from 1e-6 to 1e-4, then cosine down to 1e-6 (all x10 for the head)
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=False, begin=warmup_iters,
         end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=eval_interval)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=eval_interval,
                    max_keep_ckpts=2, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
