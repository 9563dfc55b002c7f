# DeepLabV3-MobileOne on Pascal VOC as the paper trains it (App. F.1: "For VOC, the model is
# trained on both MS-COCO and VOC data simultaneously following Mehta et al"; cvnets v0.1
# `pascal.use_coco_data: true`): augmented VOC (VOC2012 + SBD) and the COCO train2017 images
# that show VOC classes, evaluated on VOC2012 val. Data and 50-epoch schedule.
#   data/VOCdevkit/VOC2012/{JPEGImages, SegmentationClass, SegmentationClassAug,
#       ImageSets/Segmentation/{train,aug,val}.txt}   (mmseg's voc_aug.py layout)
#   data/coco/{train2017/, annotations/instances_train2017.json}   (plain COCO, no conversion)
# Training set: train.txt (1464 images, VOC masks) + aug.txt (9118 SBD images,
# SegmentationClassAug masks) = the 10582 "trainaug" images, plus COCO: COCO's instance masks of
# the 20 VOC categories are painted into VOC label maps when an image is loaded
# (mmmobileone.COCOVOCDataset, class mapping in docs/segmentation.md).
_base_ = [
    'mmseg::_base_/datasets/pascal_voc12_aug.py', 'mmseg::_base_/default_runtime.py',
    './deeplabv3_mobileone.py'
]

voc_root = 'data/VOCdevkit/VOC2012'
coco_root = 'data/coco'
# the paper's augmentations only: random resize (short side 512 x [0.5, 2] = 256-1024, as
# cvnets' random_resize min 256 / max 1024), random crop 512 (padded with 255 = ignore where the
# image is smaller), horizontal flip
resize = dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True)
crop = dict(type='RandomCrop', crop_size=_base_.crop_size)
flip = dict(type='RandomFlip', prob=0.5)
voc_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='LoadAnnotations'), resize, crop, flip,
    dict(type='PackSegInputs')
]
coco_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='mmmobileone.LoadCOCOVOCAnnotations'), resize, crop, flip,
    dict(type='PackSegInputs')
]
voc_train = dict(
    type='PascalVOCDataset',
    data_root=voc_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline=voc_pipeline)
voc_aug = dict(
    type='PascalVOCDataset',
    data_root=voc_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline=voc_pipeline)
# COCO as cvnets prepared it (EdgeNets' coco.py, which cvnets points to): every train2017 image
# with at least one VOC-class instance, no minimum area, crowd regions painted with their class.
# (min_area=1000 and crowd_label=255 give torchvision's stricter COCO-for-VOC filter instead.)
coco_train = dict(
    type='mmmobileone.COCOVOCDataset',
    data_root=coco_root,
    ann_file='annotations/instances_train2017.json',
    data_prefix=dict(img_path='train2017'),
    min_area=0,
    crowd_label=None,
    pipeline=coco_pipeline)
train_dataloader = dict(
    # 16 images per GPU: 8 GPUs x 16 = the total batch of 128
    batch_size=16,
    # epoch-based: every image once per epoch; the last, partial batch is dropped. Each image's
    # augmentation is drawn from (seed, epoch, index): resumed runs repeat uninterrupted ones
    sampler=dict(type='mmmobileone.SeededSampler', shuffle=True),
    drop_last=True,
    dataset=dict(type='ConcatDataset', datasets=[voc_train, voc_aug, coco_train]))
# mmseg's test pipeline with mmmobileone's checked image loading (runtime_safeguards.py)
test_pipeline = [
    dict(_base_.test_pipeline[0], type='mmmobileone.LoadImageFromFile'),
    *_base_.test_pipeline[1:]
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# 50 epochs, counted by an epoch-based loop: how many COCO images show a VOC class is known only
# once the instances json is read (COCOVOCDataset logs the count), so the schedule cannot be a
# fixed number of iterations. One epoch = floor((10582 + COCO images) / 128) iterations.
# Warmup: 500 iterations from 1e-6 to 1e-4; the cosine (to 1e-6, x10 for the head throughout)
# runs over the 50 epochs from iteration 0, under the warmup, as cvnets' scheduler does.
max_epochs = 50
warmup_iters = 500
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
# the safeguards of runtime_safeguards.py (SafeCheckpointHook, FiniteLossHook, EpochSeedHook, ...)
default_hooks = dict(
    _base_.safeguard_hooks,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='mmmobileone.SafeCheckpointHook', by_epoch=True, interval=5,
                    max_keep_ckpts=2, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
