# DeepLabV3-MobileOne on augmented Pascal VOC alone (VOC2012 + SBD, the 10582 "trainaug" images;
# mmseg's usual VOC setting), without the COCO images the paper adds. Everything else is
# deeplabv3_mobileone_voc.py: model, optimizer, augmentation, 50 epochs (epoch-based loop:
# floor(10582 / 128) = 82 iterations per epoch, 4100 in all, at a total batch of 128).
# Not the paper's setting: the paper's VOC mIoU belongs to the VOC + COCO configs.
_base_ = ['./deeplabv3_mobileone_voc.py']

train_dataloader = dict(dataset=dict(datasets=[_base_.voc_train, _base_.voc_aug]))
