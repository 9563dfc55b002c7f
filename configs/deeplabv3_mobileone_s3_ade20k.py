# DeepLabV3-MobileOne-S3 on ADE20k, output stride 8, crop 512x512.
# Paper mIoU (Table 11b): 36.2.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s3',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
                      'mobileone-s3_8xb32_in1k_20221110-c95eb3bf.pth')),
    decode_head=dict(in_channels=2048))
