# DeepLabV3-MobileOne on ADE20k (SceneParsing, 150 classes): data and 50-epoch schedule. The
# paper trains ADE20k "using the same hyperparameters and augmentations" as VOC (Sec. 4), without
# extra data. mmseg's layout: data/ade/ADEChallengeData2016/{images,annotations}/{training,
# validation}. Annotation value 0 ("other") is ignored and 1-150 become classes 0-149
# (reduce_zero_label).
_base_ = [
    'mmseg::_base_/datasets/ade20k.py', 'mmseg::_base_/default_runtime.py',
    './deeplabv3_mobileone.py'
]

# 50 epochs as iterations at a total batch of 128 (8 GPUs x 16 images):
# ceil(50 x 20210 / 128) = 7895 iterations (mmseg's infinite sampler runs across epoch ends,
# so this is 50 passes over the 20210 training images); validation and a checkpoint every
# ceil(5 x 20210 / 128) = 790 iterations (5 epochs) and at the end.
# Another total batch B: train_dataloader.batch_size = B / GPUs, train_cfg.max_iters and the
# cosine's `end` = ceil(50 x 20210 / B), and --auto-scale-lr (lr x B / 128).
num_train_images = 20210
max_iters = -(-50 * num_train_images // _base_.total_batch_size)
eval_interval = -(-5 * num_train_images // _base_.total_batch_size)
warmup_iters = 500

# the paper's augmentations only: random resize (short side 512 x [0.5, 2] = 256-1024, as
# cvnets' random_resize min 256 / max 1024), random crop 512 (padded with 255 = ignore where the
# image is smaller), horizontal flip
train_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=_base_.crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
# 16 images per GPU: 8 GPUs x 16 = the total batch of 128. mmseg's infinite stream, with every
# sample's augmentation drawn from (seed, pass over the data, index) instead of from the state of
# the worker that loads it: a resumed run repeats an uninterrupted one exactly (docs/workflow.md,
# "What survives what").
train_dataloader = dict(
    batch_size=16,
    sampler=dict(type='mmmobileone.SeededInfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
# mmseg's test pipeline with mmmobileone's checked image loading (runtime_safeguards.py)
test_pipeline = [
    dict(_base_.test_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.test_pipeline[1:]
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(decode_head=dict(num_classes=150))

param_scheduler = [
    # linear warmup from 1e-6 to 1e-4, then cosine down to 1e-6 (all x10 for the head)
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=False, begin=warmup_iters,
         end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=eval_interval)
# the safeguards of runtime_safeguards.py (SafeCheckpointHook, FiniteLossHook, EpochSeedHook, ...)
default_hooks = dict(
    _base_.safeguard_hooks,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='mmmobileone.SafeCheckpointHook', by_epoch=False, interval=eval_interval,
                    max_keep_ckpts=2, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
