# DeepLabV3-MobileOne-S1 on Pascal VOC + COCO at output stride 8, with a 512-channel ASPP at rates
# 12/24/36 (the form of cvnets v0.2's later DeepLabV3 configs, not the paper's); data, recipe and
# schedule of deeplabv3_mobileone_s1_voc.py, which it inherits. Fused, 512x512, 21 classes: 34.3M
# parameters, 138.1G MACs (output stride 16: 15.9M, 17.3G).
# No paper number belongs to this config (Table 11b's 77.3 is the output-stride-16 config's).
_base_ = './deeplabv3_mobileone_s1_voc.py'

model = dict(
    backbone=dict(strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)),
    decode_head=dict(channels=512, dilations=(1, 12, 24, 36)))
