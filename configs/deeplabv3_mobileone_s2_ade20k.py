# DeepLabV3-MobileOne-S2 on ADE20k as the paper trains it (Sec. 4, App. F.1). Output stride 16, ASPP
# 256 channels at rates 6/12/18, dropout 0.1, crop 512, AdamW lr 1e-4 -> 1e-6 (head x10), 50 epochs
# at a total batch of 128 (8 GPUs x 16).
# Paper mIoU (Table 11b): 35.7.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s2',
        init_cfg=_base_.mobileone_pretrained.s2),
    decode_head=dict(in_channels=2048))
