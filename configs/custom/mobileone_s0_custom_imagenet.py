# MobileOne-S0 image classifier fine-tuned on YOUR OWN images in ImageNet-style class folders: a
# few hundred images, from mmpretrain's ImageNet MobileOne-S0 weights (downloaded on first use;
# offline: --cfg-options model.backbone.init_cfg.checkpoint=PATH). docs/imagenet.md, "Your own
# dataset", walks through it.
#
#   data/my_images/train/CLASS_A/*.jpg   one folder per class; the folder names, sorted, are the
#   data/my_images/train/CLASS_B/*.jpg   classes (label 0, 1, ...); the same folders in val/
#   data/my_images/val/CLASS_A/*.jpg
#
#   python tools/train.py configs/custom/mobileone_s0_custom_imagenet.py
#   python tools/test.py configs/custom/mobileone_s0_custom_imagenet.py CHECKPOINT
#
# Edit data_root and num_classes below. Accuracy is top-1 only: top-5 needs at least 5
# classes. A missing, empty or truncated image stops training with its file name
# (mmmobileone.LoadImageFromFile).
#
# BatchNorm with few images: the batch statistics of 32 images of one small dataset are a poor
# estimate that would overwrite the ImageNet statistics the pretrained backbone relies on, so
# the backbone's BatchNorm layers stay in eval mode (norm_eval=True) and the stem and stage 1
# are frozen (frozen_stages=1). No progressive learning (its small early resolutions are for
# training from scratch). With thousands of images, set norm_eval=False and frozen_stages=-1.
_base_ = ['../mobileone_s0_imagenet.py', '../_base_/mobileone_pretrained.py']

data_root = 'data/my_images'
num_classes = 2  # the number of class folders

model = dict(
    backbone=dict(frozen_stages=1, norm_eval=True, init_cfg=_base_.mobileone_pretrained.s0),
    head=dict(num_classes=num_classes, topk=(1, )))
# (top level, as mmpretrain's configs: the Runner hands it to the model, with ImageNet's mean/std)
data_preprocessor = dict(num_classes=num_classes)

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        with_label=True,
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        with_label=True,
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# A few hundred images at batch 32: ~10 iterations per epoch; 30 epochs, lr 0.01 for a total
# batch of 32 (--auto-scale-lr for others), cosine to 0 after a 1-epoch warmup.
max_epochs = 30
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=32)
custom_hooks = [
    dict(type='EMAHook', momentum=1e-3, priority='ABOVE_NORMAL', update_buffers=True),
    dict(type='mmmobileone.ReparamHook'),  # validate the fused network, write deploy.pth
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='accuracy/top1', rule='greater'))
