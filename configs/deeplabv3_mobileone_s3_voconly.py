# DeepLabV3-MobileOne-S3 on augmented Pascal VOC alone (10582 images, no COCO): mmseg's usual VOC
# setting, not the paper's. Model and recipe of deeplabv3_mobileone_s3_voc.py. Output stride 16,
# ASPP 256 channels at rates 6/12/18, dropout 0.1, crop 512, AdamW lr 1e-4 -> 1e-6 (head x10), 50
# epochs at a total batch of 128 (8 GPUs x 16).
# No paper number belongs to this config: the paper's VOC mIoU (Table 11b) was trained with COCO.
_base_ = './_base_/deeplabv3_mobileone_voconly.py'

model = dict(
    backbone=dict(
        arch='s3',
        init_cfg=_base_.mobileone_pretrained.s3),
    decode_head=dict(in_channels=2048))
