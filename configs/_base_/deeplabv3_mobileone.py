# DeepLabV3 on MobileOne: model, optimizer and hooks shared by the VOC and ADE20k configs.
# The training recipe of the MobileOne paper (App. F.1, MobileViT's DeepLabV3 recipe): AdamW,
# weight decay 0.01, lr 1e-4 (segmentation head x10), EMA momentum 5e-4. The schedule (50 epochs,
# 500 warmup iterations, cosine to 1e-6) depends on the dataset size and lives in
# deeplabv3_mobileone_{voc,ade20k}.py. The dataset and runtime pieces come from mmseg's bases
# there, so this file defines only keys they do not.
custom_imports = dict(imports=['mmmobileone', 'mmmobileone.seg'], allow_failed_imports=False)

# SyncBN everywhere: mmengine's Runner turns it into BN in a single-process run.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmmobileone.MobileOne',
        arch='s0',
        out_indices=(3, ),
        # output stride 8; for 16 use strides=(2, 2, 2, 1), dilations=(1, 1, 1, 2)
        strides=(2, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=norm_cfg,
        # mmpretrain's ImageNet weights; their key names are ours (prefix 'backbone.')
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/mobileone/'
            'mobileone-s0_8xb32_in1k_20221110-0bc94952.pth')),
    decode_head=dict(
        type='ASPPHead',
        in_channels=1024,
        in_index=0,
        channels=512,
        dilations=(1, 12, 24, 36),
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
# the total batch size the schedules are computed for (8 GPUs x 2 images)
auto_scale_lr = dict(enable=False, base_batch_size=16)

val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EMAHook', momentum=5e-4),
    # validate / test the fused network, write work_dir/deploy.pth after training
    dict(type='mmmobileone.ReparamHook'),
]
