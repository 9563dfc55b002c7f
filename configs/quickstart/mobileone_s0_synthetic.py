# MobileOne-S0 trained briefly on synthetic ImageNet-format data (8 shape/colour classes, 96 px
# images, class folders), the classifier of the INT8 study in docs/deployment.md. About 4 minutes
# on a quiet 2-core CPU:
#
#   python -c "from mmmobileone.datasets.synthetic import generate_imagenet; \
#       generate_imagenet('data/imagenet_synthetic', classes=8, train_per_class=48, \
#       val_per_class=24, image_size=96, meta=False)"
#   python tools/train.py configs/quickstart/mobileone_s0_synthetic.py
#
# The paper's S0 network and test-time protocol (resize, centre crop), at 64 px instead of 224;
# no progressive learning or EMA, SGD with a short warmup and cosine, 32 epochs, batch 32 (384
# iterations; float top-1 91% on the 192 validation images. After 8 epochs it is 57%, with so
# little margin between the top two classes that 30 dB of Gaussian noise on the logits already
# flips 5% of the predictions: too weak a classifier to measure INT8 fidelity on).
_base_ = '../mobileone_s0_imagenet.py'

data_root = 'data/imagenet_synthetic'
num_classes = 8
model = dict(head=dict(num_classes=num_classes, topk=(1, ), loss=dict(label_smooth_val=0.1)))
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 32
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
custom_hooks = [dict(type='mmmobileone.ReparamHook')]  # no EMA in so short a run
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_optimizer=False))
