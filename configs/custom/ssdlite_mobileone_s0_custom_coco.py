# SSDLite-MobileOne-S0 (320 px) fine-tuned on YOUR OWN COCO-format detection dataset: a few
# hundred images with boxes, as a labelling tool exports them (CVAT, Label Studio, Roboflow,
# makesense.ai, ...). Backbone from mmpretrain's ImageNet MobileOne-S0 weights (downloaded on
# first use; offline: --cfg-options model.backbone.init_cfg.checkpoint=PATH). docs/detection.md,
# "Your own dataset", walks through it.
#
#   data/my_coco/annotations/train.json   COCO "instances" files: "images" (id, file_name,
#   data/my_coco/annotations/val.json     width, height), "annotations" (id, image_id,
#   data/my_coco/images/...               category_id, bbox [x, y, w, h] in pixels), "categories"
#
#   python tools/train.py configs/custom/ssdlite_mobileone_s0_custom_coco.py
#   python tools/test.py configs/custom/ssdlite_mobileone_s0_custom_coco.py \
#       work_dirs/ssdlite_mobileone_s0_custom_coco/best_coco_bbox_mAP_epoch_*.pth
#
# Edit data_root and `classes` below (or copy this file next to your data). `classes` are your
# category names, as "categories" spells them (their order there does not
# matter; boxes of other categories are not used). mmmobileone.CocoDataset / CocoMetric read the
# files tools write: "info", "licenses", "iscrowd" or "area" may be missing, categories may have
# no boxes, images no annotations, boxes may reach past the image border (clipped), crowd boxes
# are ignored. Boxes of zero size, with NaN coordinates or entirely outside their image are
# dropped with a warning that counts them and names their annotation ids. tools/train.py stops
# before training, naming the file and the index, for a box of negative width or height, a
# category id not in "categories", an image file that is missing or empty, an empty or non-JSON
# file; an unreadable (e.g. truncated) image stops training with its file name.
#
# BatchNorm with few images: the batch statistics of 16 images of one small dataset are a poor
# estimate, and they would replace the ImageNet statistics the pretrained backbone relies on. So
# the backbone's BatchNorm layers stay in eval mode (norm_eval=True: running statistics and
# affine parameters frozen at their ImageNet values) and the stem and stage 1 are frozen
# (frozen_stages=1: their low-level filters transfer as they are, fewer parameters to overfit).
# The neck and head, trained from scratch, keep training-mode BatchNorm. With thousands of
# images, set norm_eval=False and frozen_stages=-1 (the COCO recipe).
_base_ = '../ssdlite_mobileone_s0_coco.py'

data_root = 'data/my_coco/'
classes = ('cat', 'dog')  # your category names
metainfo = dict(classes=classes)

model = dict(
    backbone=dict(frozen_stages=1, norm_eval=True),
    bbox_head=dict(num_classes=len(classes)))

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type='mmmobileone.CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        # training skips images without boxes of `classes` (they stay in validation)
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type='mmmobileone.CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='mmmobileone.CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric='bbox')
test_evaluator = val_evaluator

# A few hundred images at batch 16: ~20 iterations per epoch; 60 epochs (~1200 iterations),
# warmup over the first 100. lr 0.01 for a total batch of 16 (--auto-scale-lr for others).
max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='coco/bbox_mAP', rule='greater'))
