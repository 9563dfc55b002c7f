# MobileOne-S2 on ImageNet-1k: the paper's recipe with random resized crop, flip and AutoAugment.
# Fused (deployed) network: add --cfg-options model.backbone.deploy=True (see docs/imagenet.md).
_base_ = ['./_base_/mobileone_imagenet_autoaug.py']
model = dict(backbone=dict(arch='s2'), head=dict(in_channels=2048))
