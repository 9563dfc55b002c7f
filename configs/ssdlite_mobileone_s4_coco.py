# SSDLite with a MobileOne-S4 backbone, COCO 2017, 320x320 (paper bbox mAP 29.4).
# The recipe, schedule and commands are those of ssdlite_mobileone_s2_coco.py; only the
# backbone (with its ImageNet weights) and the channels of its stage 3 and 4 features
# (896, 2048) change.
_base_ = './ssdlite_mobileone_s2_coco.py'

model = dict(
    backbone=dict(arch='s4', init_cfg=_base_.mobileone_pretrained.s4),
    neck=dict(in_channels=(896, 2048), out_channels=(896, 2048, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(896, 2048, 512, 256, 256, 128)))
