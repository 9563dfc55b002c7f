# DeepLabV3-MobileOne-S4 (no SE) on ADE20k as the paper trains it (Sec. 4, App. F.1). Output stride
# 16, ASPP 256 channels at rates 6/12/18, dropout 0.1, crop 512, AdamW lr 1e-4 -> 1e-6 (head x10),
# 50 epochs at a total batch of 128 (8 GPUs x 16).
# Paper mIoU (Table 11b): 38.2.
_base_ = './_base_/deeplabv3_mobileone_ade20k.py'

model = dict(
    backbone=dict(
        arch='s4',
        # the paper's S4 segmentation model has no squeeze-excitation (Table 11b);
        # the ImageNet weights' SE parameters are left out (with a warning)
        use_se=False,
        init_cfg=_base_.mobileone_pretrained.s4),
    decode_head=dict(in_channels=2048))
