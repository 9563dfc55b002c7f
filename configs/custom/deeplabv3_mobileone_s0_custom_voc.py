# DeepLabV3-MobileOne-S0 (output stride 16) fine-tuned on YOUR OWN semantic segmentation data in
# Pascal VOC's layout, as labelling tools export it ("Segmentation mask" / "PASCAL VOC" exports
# of CVAT, Label Studio, ...): a few hundred images. Backbone from mmpretrain's ImageNet
# MobileOne-S0 weights (offline: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
# docs/segmentation.md, "Your own dataset", walks through it.
#
#   data/my_voc/JPEGImages/NAME.jpg
#   data/my_voc/SegmentationClass/NAME.png        one label per pixel: 0 .. len(classes)-1,
#                                                 255 = ignore (unlabelled, object borders)
#   data/my_voc/ImageSets/Segmentation/train.txt  NAMEs, one per line (no extension)
#   data/my_voc/ImageSets/Segmentation/val.txt
#
#   python tools/train.py configs/custom/deeplabv3_mobileone_s0_custom_voc.py
#   python tools/test.py configs/custom/deeplabv3_mobileone_s0_custom_voc.py CHECKPOINT
#
# Label PNGs hold class indices, not colours: single-channel or palette ("P" mode, as VOC's
# own) PNGs, whose pixel values are the indices. An RGB colour mask (some tools' "colour"
# export) must be converted first (each colour to its index); the tools' "class" or "VOC"
# exports are already indices. Edit data_root, `classes` (index 0 first, usually background)
# and `palette` (the colours drawn by --show-dir) below. A missing, empty or truncated image
# stops training with its file name (mmmobileone.LoadImageFromFile).
#
# BatchNorm with few images: 8 crops of one small dataset give noisy batch statistics that
# would overwrite the ImageNet statistics the pretrained backbone relies on, so the backbone's
# BatchNorm layers stay in eval mode (norm_eval=True) and the stem and stage 1 are frozen
# (frozen_stages=1). The ASPP head, trained from scratch, keeps training-mode BatchNorm (BN, not
# SyncBN: one GPU). With thousands of images, set norm_eval=False and frozen_stages=-1.
_base_ = '../deeplabv3_mobileone_s0_voc.py'

data_root = 'data/my_voc'
classes = ('background', 'road', 'car')  # index 0, 1, 2, ... of the label PNGs
palette = [[0, 0, 0], [128, 64, 128], [0, 0, 142]]
metainfo = dict(classes=classes, palette=palette)
crop_size = (512, 512)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg, frozen_stages=1, norm_eval=True),
    decode_head=dict(norm_cfg=norm_cfg, num_classes=len(classes)))

train_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def _dataset(split, pipeline):
    return dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file=f'ImageSets/Segmentation/{split}.txt',
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    # augmentations drawn from (seed, pass, index): --resume repeats an uninterrupted run
    sampler=dict(type='mmmobileone.SeededInfiniteSampler', shuffle=True),
    drop_last=False,
    dataset=dict(_delete_=True, **_dataset('train', train_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_delete_=True, **_dataset('val', test_pipeline)))
test_dataloader = val_dataloader
del _dataset

# A few hundred images at batch 8: 2000 iterations are ~50 epochs; AdamW lr 1e-4 (head x10),
# 100 iterations of warmup, then cosine to 1e-6.
max_iters = 2000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=200)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=0, end=max_iters)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=2, save_best='mIoU'))
log_processor = dict(by_epoch=False)
