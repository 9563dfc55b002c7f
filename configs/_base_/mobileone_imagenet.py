# MobileOne on ImageNet-1k, the paper's recipe (Sec. 4 and App. C): 300 epochs, 8 GPUs x 32
# images, SGD lr 0.1 with a cosine schedule, weight decay 1e-4 annealed to 1e-5 by the same
# cosine, label smoothing 0.1, EMA decay 0.9995, progressive learning (Table 15), evaluation at
# 224 px (resize 256, centre crop 224), validation on the fused network.
# Random resized crop and flip: the S0, S1 and mu recipes. S2-S4 add AutoAugment
# (mobileone_imagenet_autoaug.py). Variants set model.backbone.arch and model.head.in_channels.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
    './runtime_safeguards.py',
]
custom_imports = dict(
    imports=_base_.safeguard_imports + ['mmmobileone.integrations.mmpretrain'],
    allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmmobileone.MobileOne', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))

# 8 GPUs x 32 = 256 images per step. The crop size of RandomResizedCrop is set every epoch by
# ProgressiveLearningHook (160 / 192 / 224); the 224 written in the pipeline is the last phase.
# SeededSampler: every image's augmentation is drawn from (seed, epoch, index), not from the state
# of the persistent worker that loads it, so a resumed run repeats an uninterrupted one exactly
# (docs/workflow.md, "What survives what").
# mmpretrain's pipelines with mmmobileone's checked image loading (runtime_safeguards.py).
train_pipeline = [
    dict(_base_.train_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.train_pipeline[1:]
]
test_pipeline = [
    dict(_base_.test_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.test_pipeline[1:]
]
train_dataloader = dict(
    batch_size=32,
    persistent_workers=True,
    sampler=dict(type='mmmobileone.SeededSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=0, end=300,
         convert_to_iter_based=True),
    # the same cosine for the weight decay: 1e-4 -> 1e-5 (eta_min_ratio keeps a zero decay zero)
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=0.1,
         by_epoch=True, begin=0, end=300, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [
    # paper Table 15: epochs 0-38 160 px / strength 0.3, 39-113 192 px / 0.6, 114-299 224 px / 1.0
    dict(type='mmmobileone.ProgressiveLearningHook', milestones=(39, 114),
         resolutions=(160, 192, 224), strengths=(0.3, 0.6, 1.0)),
    # decay 0.9995; ABOVE_NORMAL so that validation sees the EMA weights before they are fused
    dict(type='EMAHook', momentum=5e-4, priority='ABOVE_NORMAL', update_buffers=True),
    # validate / test the fused network, write work_dir/deploy.pth after training
    dict(type='mmmobileone.ReparamHook'),
]
# the safeguards of runtime_safeguards.py (SafeCheckpointHook, FiniteLossHook, EpochSeedHook, ...)
default_hooks = dict(_base_.safeguard_hooks,
                     checkpoint=dict(type='mmmobileone.SafeCheckpointHook', interval=1,
                                     max_keep_ckpts=3))
