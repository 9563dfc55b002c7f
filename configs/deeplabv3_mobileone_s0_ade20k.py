# DeepLabV3-MobileOne-S0 on ADE20k, output stride 8, crop 512x512.
# Paper mIoU (Table 11b): 33.1.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s0',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
                      'mobileone-s0_8xb32_in1k_20221110-0bc94952.pth')),
    decode_head=dict(in_channels=1024))
