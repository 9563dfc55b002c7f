# SSDLite with a MobileOne-S0 backbone, COCO 2017, 320x320 (not in the paper).
# The recipe, schedule and commands are those of ssdlite_mobileone_s2_coco.py; only the
# backbone (with its ImageNet weights) and the channels of its stage 3 and 4 features
# (256, 1024) change.
_base_ = './ssdlite_mobileone_s2_coco.py'

model = dict(
    backbone=dict(arch='s0', init_cfg=_base_.mobileone_pretrained.s0),
    neck=dict(in_channels=(256, 1024), out_channels=(256, 1024, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(256, 1024, 512, 256, 256, 128)))
