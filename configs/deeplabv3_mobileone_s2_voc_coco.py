# DeepLabV3-MobileOne-S2 trained on augmented VOC and COCO together (the paper's VOC recipe,
# after MobileViT), evaluated on VOC2012 val. COCO's instance masks of the 20 VOC categories are
# painted into VOC label maps on the fly (mmmobileone.seg.COCOVOCDataset; docs/segmentation.md
# has the class mapping). Data: data/VOCdevkit/VOC2012 as in the VOC configs, plus
# data/coco/{train2017, annotations/instances_train2017.json}.
# Other backbones: change model.backbone (arch, init_cfg) and decode_head.in_channels as in
# deeplabv3_mobileone_{s0..s4}_voc.py.
_base_ = './deeplabv3_mobileone_s2_voc.py'

coco_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmmobileone.LoadCOCOVOCAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
coco_train = dict(
    type='mmmobileone.COCOVOCDataset',
    data_root='data/coco',
    ann_file='annotations/instances_train2017.json',
    data_prefix=dict(img_path='train2017'),
    min_area=1000,
    pipeline=coco_train_pipeline)

voc_root = 'data/VOCdevkit/VOC2012'
voc_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    # epoch-based: every image once per epoch; drop the last, partial batch (a batch of one
    # image per GPU would break the batch norm after ASPP's global pooling)
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,
    dataset=dict(datasets=[
        dict(type='PascalVOCDataset',
             data_root=voc_root,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt',
             pipeline=voc_pipeline),
        dict(type='PascalVOCDataset',
             data_root=voc_root,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt',
             pipeline=voc_pipeline),
        coco_train,
    ]))

# How many COCO images pass the min_area filter depends on the filter (COCOVOCDataset logs the
# count), so the paper's 50 epochs are counted by an epoch-based loop instead of iterations.
# The cosine runs from iteration 0, under the warmup, instead of starting after it; with more
# than 33100 iterations in 50 epochs its factor is still above 0.9994 at iteration 500.
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=0, end=50,
         convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=5))
log_processor = dict(by_epoch=True)
