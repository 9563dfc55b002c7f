# DeepLabV3-MobileOne-S1 on ADE20k, output stride 8, crop 512x512.
# Paper mIoU (Table 11b): 35.1.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s1',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
                      'mobileone-s1_8xb32_in1k_20221110-ceeef467.pth')),
    decode_head=dict(in_channels=1280))
