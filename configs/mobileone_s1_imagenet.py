# MobileOne-S1 on ImageNet-1k: the paper's recipe with random resized crop and flip.
# Fused (deployed) network: add --cfg-options model.backbone.deploy=True (see docs/imagenet.md).
_base_ = ['./_base_/mobileone_imagenet.py']
model = dict(backbone=dict(arch='s1'), head=dict(in_channels=1280))
