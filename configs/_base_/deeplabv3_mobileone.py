# DeepLabV3 on MobileOne: model, optimizer and hooks shared by the VOC and ADE20k configs, as the
# MobileOne paper trained it (Sec. 4, App. F.1: "using the cvnets library ... following the
# training procedure of MobileViT", i.e. ml-cvnets v0.1
# config/segmentation/deeplabv3_mobilevit_small.yaml):
#   - backbone at output stride 16, ImageNet weights (mmpretrain's), SyncBN;
#   - ASPP with 256 channels and rates 6, 12, 18 (plus the 1x1 and image-pooling branches),
#     dropout 0.1, no auxiliary head;
#   - AdamW, weight decay 0.01, lr 1e-4 (App. F.1) at a total batch of 128 (cvnets: 4 GPUs x
#     32; here 8 GPUs x 16), segmentation head lr x10, EMA momentum 5e-4.
# The schedule (50 epochs, 500 warmup iterations, cosine to 1e-6) and the data live in
# deeplabv3_mobileone_{voc,voconly,ade20k}.py. The output-stride-8 form (ASPP 512 channels, rates
# 12/24/36, cvnets v0.2's later recipe) is in the deeplabv3_mobileone_*_os8_*.py configs.
_base_ = ['./mobileone_pretrained.py', './runtime_safeguards.py']

custom_imports = dict(
    imports=_base_.safeguard_imports + ['mmmobileone.integrations.mmseg'],
    allow_failed_imports=False)

# SyncBN everywhere: mmengine's Runner turns it into BN in a single-process run.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))  # training crops (smaller images padded: 0 image, 255 ignored label)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmmobileone.MobileOne',
        arch='s0',
        out_indices=(3, ),
        # output stride 16: stage 4 keeps stride 1 and dilates by 2
        strides=(2, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        norm_cfg=norm_cfg,
        # mmpretrain's ImageNet weights (configs/_base_/mobileone_pretrained.py)
        init_cfg=_base_.mobileone_pretrained.s0),
    decode_head=dict(
        type='ASPPHead',
        in_channels=1024,
        in_index=0,
        channels=256,
        # rate 1 is the 1x1 branch; 6, 12, 18 are cvnets v0.1's rates at output stride 16
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # no auxiliary FCN head: the paper's recipe (MobileViT's DeepLabV3) has none
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
# The lr is the paper's for a total batch of 128 (8 GPUs x 16). With another total batch,
# `tools/train.py --auto-scale-lr` scales it linearly (lr x total / 128); the schedule files
# say what else changes.
total_batch_size = 128
auto_scale_lr = dict(enable=False, base_batch_size=total_batch_size)

val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EMAHook', momentum=5e-4),
    # validate / test the fused network, write work_dir/deploy.pth after training
    dict(type='mmmobileone.ReparamHook'),
]
