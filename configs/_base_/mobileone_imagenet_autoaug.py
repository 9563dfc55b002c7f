# The S2-S4 recipe: mobileone_imagenet.py plus AutoAugment (mmpretrain's ImageNet policy) whose
# magnitudes ProgressiveLearningHook scales by 0.3 / 0.6 / 1.0 (paper App. C.1, Table 15).
_base_ = ['./mobileone_imagenet.py']

train_pipeline = [
    dict(type='mmmobileone.LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmmobileone.ScaledAutoAugment',
        policies='imagenet',
        strength=1.0,
        # pad with the BGR mean, as mmpretrain's AutoAugment configs do
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
