# Quickstart: SSDLite-MobileOne on a small synthetic COCO-format dataset, trained on CPU in
# minutes (tools/quickstart.py generates the data, trains, tests, fuses and draws the results).
#
# Derived from ../ssdlite_mobileone_s2_coco.py: the same detector design (MobileOne stages 3-4 ->
# SSDNeck with depthwise extra layers -> depthwise SSD head, SSD anchors), COCO format and
# evaluation, SGD with linear warmup then cosine, ReparamHook. Changed for a CPU budget of a few
# minutes: the smaller MobileOne-mu1, 128 px input with four feature levels and the anchors
# scaled to it, slimmer extra layers, 4 classes, light augmentation (resize + flip), batch 16,
# lr 0.06 with a 100-iteration warmup, 32 epochs (800 iterations on 400 images). See
# docs/detection.md for the measured results over seeds and CPU instruction sets.
#
# Why this schedule: the earlier 16 epochs at lr 0.12 ended anywhere between mAP@0.5 0.40 and
# 0.76 depending on the seed and on the CPU's float rounding (AVX2 vs AVX-512 kernels). Half
# the lr for twice the iterations ends in a narrow band (measured over 5 seeds x 2 CPU paths
# with tools/analysis/quickstart_spread.py; docs/detection.md).
#
#   python -c "from mmmobileone.datasets.synthetic import generate_coco; generate_coco(
#       'data/coco_synthetic', 400, 100, classes=('umbrella', 'sports ball', 'pizza', 'book'))"
#   python tools/train.py configs/quickstart/ssdlite_mobileone_mu1_synthetic.py
_base_ = '../ssdlite_mobileone_s2_coco.py'

data_root = 'data/coco_synthetic/'
# Shape classes of mmmobileone.datasets.synthetic.coco, in COCO id order (as the json lists them).
classes = ('umbrella', 'sports ball', 'pizza', 'book')
metainfo = dict(classes=classes)
input_size = 128

model = dict(
    # mu1 has no released ImageNet weights: random init (and no download)
    backbone=dict(arch='mu1', init_cfg=None),
    # Four levels (feature maps 8, 4, 2, 1 at 128 px) instead of six; slimmer extra layers.
    neck=dict(
        in_channels=(192, 512),
        out_channels=(192, 512, 256, 128),
        level_strides=(2, 2),
        level_paddings=(1, 1)),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=(192, 512, 256, 128),
        anchor_generator=dict(
            strides=[16, 32, 64, 128],
            ratios=[[2, 3], [2, 3], [2, 3], [2, 3]],
            min_sizes=[19, 40, 70, 100],
            max_sizes=[40, 70, 100, 128])))

train_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 32
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.06))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
log_processor = dict(window_size=5)
