# DeepLabV3-MobileOne-S2 on ADE20k, output stride 8, crop 512x512.
# Paper mIoU (Table 11b): 35.7.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s2',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
                      'mobileone-s2_8xb32_in1k_20221110-9c7ecb97.pth')),
    decode_head=dict(in_channels=2048))
