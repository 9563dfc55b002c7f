# SSDLite with a MobileOne-S1 backbone, COCO 2017, 320x320 (paper bbox mAP 25.7).
# The recipe, schedule and commands are those of ssdlite_mobileone_s2_coco.py; only the
# backbone (with its ImageNet weights) and the channels of its stage 3 and 4 features
# (512, 1280) change.
_base_ = './ssdlite_mobileone_s2_coco.py'

model = dict(
    backbone=dict(arch='s1', init_cfg=_base_.mobileone_pretrained.s1),
    neck=dict(in_channels=(512, 1280), out_channels=(512, 1280, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(512, 1280, 512, 256, 256, 128)))
