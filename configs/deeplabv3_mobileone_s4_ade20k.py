# DeepLabV3-MobileOne-S4 on ADE20k, output stride 8, crop 512x512.
# Paper mIoU (Table 11b): 38.2.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s4',
        # the paper's S4 segmentation model has no squeeze-excitation; the ImageNet
        # weights' SE parameters are left out (with a warning) when loading
        use_se=False,
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
                      'mobileone-s4_8xb32_in1k_20221110-28d888cb.pth')),
    decode_head=dict(in_channels=2048))
