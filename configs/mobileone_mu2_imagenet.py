# MobileOne-mu2 on ImageNet-1k: the paper's recipe with random resized crop and flip, progressive
# resolution, no AutoAugment (the paper uses AutoAugment for S2-S4 only and gives no micro-variant
# recipe: our inference, see docs/imagenet.md). Paper top-1 (Table 13): 69.0.
# Fused (deployed) network: add --cfg-options model.backbone.deploy=True (see docs/imagenet.md).
_base_ = ['./_base_/mobileone_imagenet.py']
model = dict(backbone=dict(arch='mu2'), head=dict(in_channels=512))
