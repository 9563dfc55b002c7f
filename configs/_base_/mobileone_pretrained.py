# mmpretrain's released MobileOne ImageNet-1k weights (mmpretrain 1.2.0,
# configs/mobileone/metafile.yml; top-1 71.34 / 75.72 / 77.37 / 78.06 / 79.69 for S0-S4), the one
# table every detection and segmentation config takes its backbone weights from. Their parameter
# names are ours, so `prefix='backbone.'` loads them strictly into mmmobileone.MobileOne.
# A config inheriting this file (directly or through its bases) uses
#   model = dict(backbone=dict(init_cfg=_base_.mobileone_pretrained.s2))
# The micro variants (mu0-mu2) have no released weights.
#
# Offline or with other weights: tools/train.py stops before training when the file cannot be
# fetched and names the two ways out:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH   (an mmpretrain checkpoint, or one
#       written by tools/model_converters/{apple,timm}_to_mmmobileone.py --backbone-only)
#   --cfg-options model.backbone.init_cfg=None               (train from random weights)
mobileone_pretrained = dict(
    s0=dict(type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s0_8xb32_in1k_20221110-0bc94952.pth'),
    s1=dict(type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s1_8xb32_in1k_20221110-ceeef467.pth'),
    s2=dict(type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s2_8xb32_in1k_20221110-9c7ecb97.pth'),
    s3=dict(type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s3_8xb32_in1k_20221110-c95eb3bf.pth'),
    s4=dict(type='Pretrained', prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s4_8xb32_in1k_20221110-28d888cb.pth'),
)
