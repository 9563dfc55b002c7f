# Alias, kept so that existing commands keep working: DeepLabV3-MobileOne-S2 trained on augmented
# VOC + COCO (VOC classes) is now the default VOC config, deeplabv3_mobileone_s2_voc.py, which
# this file only inherits (paper mIoU, Table 11b: 77.9). Every deeplabv3_mobileone_s*_voc.py
# trains on VOC + COCO; the VOC-only configs are deeplabv3_mobileone_s*_voconly.py.
_base_ = './deeplabv3_mobileone_s2_voc.py'
