"""DeepLabV3-MobileOne: shipped configs, output stride, COCO-to-VOC data, train / test / demo."""
import glob
import math
import os.path as osp
import re
from typing import Dict, List

import numpy as np
import pytest
import torch
from conftest import ROOT, randomize_bn, relative_error
from helpers import small_run_options
from mmengine.config import Config
from PIL import Image

from mmmobileone.datasets.synthetic import generate_ade20k, generate_coco_voc, generate_voc
from mmmobileone.models import reparameterize_model
from tools.test import test as run_test
from tools.train import train as run_train

ARCHS = ['s0', 's1', 's2', 's3', 's4']
STAGE4_CHANNELS = dict(s0=1024, s1=1280, s2=2048, s3=2048, s4=2048)
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def config_path(name: str) -> str:
    return osp.join(ROOT, 'configs', f'{name}.py')


@pytest.fixture(scope='module', autouse=True)
def mmseg_scope():
    import mmseg.datasets  # noqa: F401  (registers mmseg's datasets, transforms and models)
    import mmseg.models  # noqa: F401
    from mmengine.registry import DefaultScope

    import mmmobileone.integrations.mmseg  # noqa: F401
    saved = dict(DefaultScope._instance_dict)
    scope = DefaultScope.get_instance('test_deeplabv3', scope_name='mmseg')
    yield scope
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


def build_segmentor(cfg: Config):
    from mmseg.registry import MODELS
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


# --------------------------------------------------------------------------------------------
# the shipped configs


@pytest.mark.parametrize('dataset,num_classes,images',
                         [('voc', 21, 10582), ('ade20k', 150, 20210)])
@pytest.mark.parametrize('arch', ARCHS)
def test_configs_follow_the_paper_recipe(arch, dataset, num_classes, images):
    cfg = Config.fromfile(config_path(f'deeplabv3_mobileone_{arch}_{dataset}'))
    assert cfg.custom_imports.imports == ['mmmobileone', 'mmmobileone.integrations.mmcv',
                                          'mmmobileone.integrations.mmseg']
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == 'mmmobileone.MobileOne' and backbone.arch == arch
    # output stride 16 (tests/test_recipes_dense.py checks the rest of the paper's recipe)
    assert tuple(backbone.strides) == (2, 2, 2, 1) and tuple(backbone.dilations) == (1, 1, 1, 2)
    assert backbone.get('use_se', True) is (arch != 's4')
    assert f'mobileone-{arch}_8xb32_in1k' in backbone.init_cfg.checkpoint
    assert backbone.norm_cfg.type == head.norm_cfg.type == 'SyncBN'
    assert head.type == 'ASPPHead' and tuple(head.dilations) == (1, 6, 12, 18)
    expected_head = (256, STAGE4_CHANNELS[arch], num_classes)
    assert (head.channels, head.in_channels, head.num_classes) == expected_head
    assert cfg.model.auxiliary_head is None
    assert tuple(cfg.model.data_preprocessor.size) == (512, 512)
    # the paper's optimizer, EMA and re-parameterization
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 1e-4, 0.01)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 10
    hooks = {hook.type: hook for hook in cfg.custom_hooks}
    assert hooks['EMAHook'].momentum == 5e-4 and 'mmmobileone.ReparamHook' in hooks
    # 50 epochs at a total batch of 128 (8 GPUs x 16): ADE20k as iterations, VOC + COCO (whose
    # size depends on the COCO json) as epochs
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 128
    if dataset == 'ade20k':
        assert cfg.train_cfg.max_iters == math.ceil(50 * images / 128) == 7895
    else:
        assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == 50
    # the paper's augmentations (no photometric distortion), crop 512
    datasets = cfg.train_dataloader.dataset.get('datasets', [cfg.train_dataloader.dataset])
    for ds in datasets:
        types = [t.type for t in ds.pipeline]
        annotations = ('mmmobileone.LoadCOCOVOCAnnotations'
                       if ds.type == 'mmmobileone.COCOVOCDataset' else 'LoadAnnotations')
        assert types == ['mmmobileone.LoadImageFromFile', annotations, 'RandomResize', 'RandomCrop',
                         'RandomFlip', 'PackSegInputs']
        assert tuple(ds.pipeline[3].crop_size) == (512, 512)
        assert ds.pipeline[1].get('reduce_zero_label', False) is (dataset == 'ade20k')
    if dataset == 'voc':
        assert [(d.data_prefix.get('seg_map_path'), d.ann_file) for d in datasets] == [
            ('SegmentationClass', 'ImageSets/Segmentation/train.txt'),
            ('SegmentationClassAug', 'ImageSets/Segmentation/aug.txt'),
            (None, 'annotations/instances_train2017.json')]
        assert datasets[0].data_root == 'data/VOCdevkit/VOC2012'
        assert datasets[2].data_root == 'data/coco'
    else:
        assert datasets[0].data_root == 'data/ade/ADEChallengeData2016'


def test_learning_rate_schedule_matches_the_paper():
    """Warmup 1e-6 -> 1e-4 over 500 iterations, cosine to 1e-6; the head runs at x10."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(config_path('deeplabv3_mobileone_s0_ade20k'))
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    model.decode_head = torch.nn.Linear(2, 2)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper)) for s in cfg.param_scheduler]
    lrs = {}
    for it in range(cfg.train_cfg.max_iters):
        if it in (0, 250, 500, 4197, cfg.train_cfg.max_iters - 1):
            lrs[it] = [group['lr'] for group in wrapper.optimizer.param_groups]
        for scheduler in schedulers:
            scheduler.step()
    backbone_lr = {it: min(v) for it, v in lrs.items()}
    head_lr = {it: max(v) for it, v in lrs.items()}
    assert backbone_lr[0] == pytest.approx(1e-6)
    # mmengine's LinearLR reaches the full lr at its last iteration (499)
    assert backbone_lr[250] == pytest.approx(1e-4 * (0.01 + 0.99 * 250 / 499))
    assert backbone_lr[500] == pytest.approx(1e-4)
    # half-way through the cosine: the mean of the start and end lr
    middle = 500 + (7895 - 500) // 2
    assert middle == 4197
    assert backbone_lr[4197] == pytest.approx((1e-4 + 1e-6) / 2, rel=1e-3)
    assert backbone_lr[7894] == pytest.approx(1e-6, rel=1e-2)
    for it in lrs:
        assert head_lr[it] == pytest.approx(10 * backbone_lr[it])


def test_s4_backbone_has_no_squeeze_excitation():
    from mmmobileone import MobileOne
    cfg = Config.fromfile(config_path('deeplabv3_mobileone_s4_voc'))
    args = {k: v for k, v in cfg.model.backbone.items() if k not in ('type', 'init_cfg')}
    with_se = MobileOne(**dict(args, use_se=True))
    without = MobileOne(**args)
    se_params = sum(p.numel() for n, p in with_se.named_parameters() if '.se.' in n)
    assert se_params > 0
    assert not any('.se.' in name for name, _ in without.named_parameters())
    assert sum(p.numel() for p in without.parameters()) == sum(
        p.numel() for p in with_se.parameters()) - se_params


@pytest.mark.parametrize('strides,dilations,output_stride', [
    ((2, 2, 1, 1), (1, 1, 2, 4), 8),
    ((2, 2, 2, 1), (1, 1, 1, 2), 16),
])
def test_output_stride_feature_sizes_and_exact_fusion(strides, dilations, output_stride):
    cfg = Config.fromfile(config_path('deeplabv3_mobileone_s0_voc'))
    cfg.model.backbone.strides = strides
    cfg.model.backbone.dilations = dilations
    model = randomize_bn(build_segmentor(cfg), seed=3).eval()
    norms = {type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.SyncBatchNorm)}
    assert norms == {'SyncBatchNorm'}  # the config's SyncBN, in eval mode on the CPU
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    fused = reparameterize_model(model).eval()
    assert model.backbone.output_stride == output_stride
    with torch.no_grad():
        features = model.extract_feat(x)
        fused_features = fused.extract_feat(x)
        logits = model.decode_head(features)
        fused_logits = fused.decode_head(fused_features)
    assert tuple(features[0].shape) == (1, 1024, 64 // output_stride, 96 // output_stride)
    assert tuple(logits.shape) == (1, 21, 64 // output_stride, 96 // output_stride)
    assert fused.backbone.deploy and not model.backbone.deploy
    # float32 rounding, accumulated through 20+ fused units and the 1024-channel ASPP convs
    assert relative_error(fused_features[0], features[0]) < 1e-4
    assert relative_error(fused_logits, logits) < 1e-4


# --------------------------------------------------------------------------------------------
# COCO instances as VOC classes


def test_coco_voc_dataset_paints_known_masks(tmp_path):
    from mmmobileone.integrations.mmseg import COCOVOCDataset
    coco_root = str(tmp_path / 'coco')
    expected = generate_coco_voc(coco_root)
    pipeline = [dict(type='mmmobileone.LoadCOCOVOCAnnotations')]
    dataset = COCOVOCDataset(data_root=coco_root, ann_file='annotations/instances_train2017.json',
                             data_prefix=dict(img_path='train2017'), min_area=0,
                             pipeline=pipeline)
    assert dataset.metainfo['classes'] == VOC_CLASSES
    # c.jpg has only a truck: no VOC instance, dropped
    names = [osp.basename(dataset[i]['img_path']) for i in range(len(dataset))]
    assert names == ['a.jpg', 'b.jpg']
    a, b = (dataset[i]['gt_seg_map'] for i in range(2))
    for name, seg in (('a.jpg', a), ('b.jpg', b)):
        np.testing.assert_array_equal(seg, expected[name])
    # a.jpg: person 15 (x 5-34, y 5-34) under a dog 12 (x 10-19, y 10-29), truck -> 0,
    # crowd of people -> 255
    assert a[5, 5] == a[34, 34] == a[9, 20] == 15 and a[35, 35] == 0
    assert a[10, 10] == a[29, 19] == 12 and a[30, 10] == 15
    assert a[0, 45] == a[9, 59] == 0
    assert a[20, 40] == a[39, 59] == 255
    assert np.bincount(a.ravel(), minlength=256)[[0, 12, 15, 255]].tolist() == [
        2400 - 900 - 400, 200, 700, 400]
    # b.jpg: tv 20 (x 0-4, y 0-3), couch 18 (x 50-59, y 30-33)
    assert np.bincount(b.ravel(), minlength=256)[[0, 18, 20]].tolist() == [2400 - 60, 40, 20]
    assert b[3, 4] == 20 and b[4, 4] == 0 and b[30, 50] == b[33, 59] == 18


def test_coco_voc_dataset_filter_and_crowd_options(tmp_path):
    from mmmobileone.integrations.mmseg import COCOVOCDataset
    coco_root = str(tmp_path / 'coco')
    generate_coco_voc(coco_root)
    kwargs = dict(data_root=coco_root, ann_file='annotations/instances_train2017.json',
                  data_prefix=dict(img_path='train2017'),
                  pipeline=[dict(type='mmmobileone.LoadCOCOVOCAnnotations')])
    # b.jpg's VOC instances cover 60 pixels, a.jpg's non-crowd ones 900 + 200
    assert len(COCOVOCDataset(min_area=60, **kwargs)) == 2
    assert len(COCOVOCDataset(min_area=61, **kwargs)) == 1
    with pytest.raises(ValueError, match='no image .* covering >= 1101 pixels'):
        COCOVOCDataset(min_area=1101, **kwargs)
    seg = COCOVOCDataset(min_area=1000, crowd_label=None, **kwargs)[0]['gt_seg_map']
    assert seg[20, 40] == seg[39, 59] == 15  # the crowd painted as person
    with pytest.raises(ValueError, match='crowd_label'):
        COCOVOCDataset(crowd_label=7.5, **kwargs)
    with pytest.raises(ValueError, match='min_area'):
        COCOVOCDataset(min_area=-1, **kwargs)


# --------------------------------------------------------------------------------------------
# tools/train.py, tools/test.py and tools/image_demo.py on generated data


def per_class_rows(log: str) -> Dict[str, List[str]]:
    """mmseg's per-class table (``| name | IoU | Acc |`` rows) from a log, by class name."""
    rows = re.findall(r'^\|\s*([A-Za-z][\w ]*?)\s*\|\s*([\d.]+|nan)\s*\|\s*([\d.]+|nan)\s*\|$',
                      log, flags=re.M)
    return {name: [iou, acc] for name, iou, acc in rows}


def read_log(work_dir: str) -> str:
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    return ''.join(open(path).read() for path in logs)


def test_missing_data_gives_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"'data/VOCdevkit/VOC2012'.*--cfg-options"):
        run_train([config_path('deeplabv3_mobileone_s2_voc'), '--work-dir', 'w'])
    with pytest.raises(FileNotFoundError, match=r"'data/coco'"):
        generate_voc('data/VOCdevkit/VOC2012')  # VOC present, COCO missing
        run_train([config_path('deeplabv3_mobileone_s2_voc_coco'), '--work-dir', 'w'])
    torch.save(dict(state_dict={}), 'empty.pth')
    with pytest.raises(FileNotFoundError, match=r"'data/ade/ADEChallengeData2016'"):
        run_test([config_path('deeplabv3_mobileone_s0_ade20k'), 'empty.pth', '--work-dir', 'w'])
    assert not osp.exists('w')


@pytest.mark.slow
def test_voc_train_then_test_fused_equals_unfused(tmp_path):
    voc, coco_root = str(tmp_path / 'data' / 'VOCdevkit' / 'VOC2012'), str(tmp_path / 'coco')
    generate_voc(voc, num_train=2, num_aug=2, num_val=2)
    generate_coco_voc(coco_root)
    config = config_path('deeplabv3_mobileone_s0_voc')
    # the VOC configs train on VOC + COCO, epoch-based: one epoch, validated at its end
    options = [o.replace(voc, coco_root) if '.datasets.2.' in o else o
               for o in small_run_options(Config.fromfile(config), voc, crop_size=32)]
    options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                'default_hooks.checkpoint.interval=1']
    work_dir = str(tmp_path / 'work')
    runner = run_train([config, '--work-dir', work_dir, '--cfg-options', *options])
    # train.txt + aug.txt (2 + 2) and COCO's a.jpg, b.jpg (min_area=0): 3 batches of 2
    assert len(runner.train_dataloader.dataset) == 6
    assert runner.epoch == 1 and runner.iter == 3
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint) and osp.isfile(osp.join(work_dir, 'deploy.pth'))
    assert 'validation runs on the fused (re-parameterized) model' in read_log(work_dir)

    fused = run_test([config, checkpoint, '--work-dir', work_dir, '--cfg-options', *options])
    unfused = run_test([config, checkpoint, '--work-dir', work_dir, '--no-fuse',
                        '--cfg-options', *options])
    assert set(fused) == {'aAcc', 'mIoU', 'mAcc'}
    assert all(0 <= value <= 100 for value in fused.values())
    assert fused == unfused
    # mmseg's per-class table: the 21 VOC classes, IoU in [0, 100] or nan (class absent)
    rows = per_class_rows(read_log(work_dir))
    assert set(rows) == set(VOC_CLASSES)
    ious = [float(iou) for iou, _ in rows.values() if iou != 'nan']
    assert ious and all(0 <= iou <= 100 for iou in ious)


@pytest.mark.slow
def test_ade20k_train_then_unfused_test_equals_deployed(tmp_path):
    from mmseg.registry import DATASETS
    ade = str(tmp_path / 'data' / 'ade' / 'ADEChallengeData2016')
    generate_ade20k(ade, num_train=2, num_val=2)
    config = config_path('deeplabv3_mobileone_s0_ade20k')
    cfg = Config.fromfile(config)
    options = small_run_options(cfg, ade, crop_size=32, max_iters=2)
    # reduce_zero_label: "other" (0) is ignored, class k is stored as k + 1
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options if o.endswith(ade)))
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    sample = val_set[0]
    stored = np.array(Image.open(val_set.get_data_info(0)['seg_map_path']))
    loaded = sample['data_samples'].gt_sem_seg.data[0].numpy()
    assert loaded.shape == stored.shape
    np.testing.assert_array_equal(loaded, np.where(stored == 0, 255, stored.astype(int) - 1))

    # no validation during training; test the train-time network of the last checkpoint and the
    # fused deploy.pth written at the end of training
    options.append('train_cfg.val_interval=3')
    work_dir = str(tmp_path / 'work')
    run_train([config, '--work-dir', work_dir, '--cfg-options', *options])
    unfused = run_test([config, osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir,
                        '--no-fuse', '--cfg-options', *options])
    deployed = run_test([config, osp.join(work_dir, 'deploy.pth'), '--work-dir', work_dir,
                         '--cfg-options', *options, 'model.backbone.deploy=True'])
    assert 0 <= unfused['mIoU'] <= 100
    assert deployed == unfused
    rows = per_class_rows(read_log(work_dir))
    assert len(rows) == 150 and 'wall' in rows and 'clock' in rows


@pytest.mark.slow
def test_voc_coco_variant_trains_an_epoch(tmp_path):
    data = tmp_path / 'data'
    voc, coco_root = str(data / 'VOCdevkit' / 'VOC2012'), str(data / 'coco')
    generate_voc(voc, num_train=1, num_aug=1, num_val=1)
    generate_coco_voc(coco_root)
    config = config_path('deeplabv3_mobileone_s2_voc_coco')
    cfg = Config.fromfile(config)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == 50
    options = [o.replace(voc, coco_root) if '.datasets.2.' in o else o
               for o in small_run_options(cfg, voc, crop_size=32)]
    options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=2',  # no validation
                'default_hooks.checkpoint.interval=1']
    runner = run_train([config, '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options])
    # VOC train + aug (1 + 1) and COCO's a.jpg and b.jpg (min_area=0, as cvnets' COCO data):
    # two batches of 2
    assert len(runner.train_dataloader.dataset) == 4
    assert runner.epoch == 1 and runner.iter == 2


@pytest.mark.slow
def test_image_demo_draws_segmentation_overlay(tmp_path):
    import importlib.util
    demo_path = osp.join(ROOT, 'tools', 'image_demo.py')
    assert osp.isfile(demo_path)
    spec = importlib.util.spec_from_file_location('image_demo', demo_path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    from mmseg.datasets import PascalVOCDataset

    from mmmobileone.apis import build_inferencer, init_model
    config = config_path('deeplabv3_mobileone_s0_voc')
    model = init_model(config, None, fuse=False,
                       cfg_options={'model.backbone.init_cfg': None})
    randomize_bn(model, seed=5)
    checkpoint = str(tmp_path / 'model.pth')  # as the Runner saves it: with the class names
    torch.save(dict(meta=dict(dataset_meta=PascalVOCDataset.METAINFO),
                    state_dict=model.state_dict()), checkpoint)
    # large enough for the class names mmseg writes on the regions to cover little of it
    voc = str(tmp_path / 'data' / 'VOCdevkit' / 'VOC2012')
    generate_voc(voc, num_train=0, num_aug=0, num_val=1, image_size=(256, 192))
    image = glob.glob(osp.join(voc, 'JPEGImages', '*.jpg'))[0]
    out_dir = tmp_path / 'out'
    assert demo.main([image, config, checkpoint, '--out-dir', str(out_dir), '--opacity', '1',
                      '--cfg-options', 'model.backbone.init_cfg=None']) == 0
    drawn = glob.glob(str(out_dir / 'vis' / '*'))  # where MMSegInferencer writes
    assert [osp.basename(p) for p in drawn] == [osp.basename(image)]
    picture = np.array(Image.open(drawn[0]).convert('RGB')).astype(int)
    # with opacity 1 a pixel shows the palette colour of its predicted class (class names are
    # written on top of the regions, and the picture is a JPEG, blurred along the many region
    # borders of this random-weight model: most pixels, not all)
    inferencer = build_inferencer(model)  # mmseg's own pipeline around the model
    prediction = inferencer(image, return_datasamples=True).pred_sem_seg.data[0]
    palette = np.array(PascalVOCDataset.METAINFO['palette'])
    expected = palette[prediction.numpy()]
    assert picture.shape == expected.shape
    close = (np.abs(picture - expected).max(-1) < 40).mean()
    assert close > 0.75, close
    original = np.array(Image.open(image).convert('RGB')).astype(int)
    assert (np.abs(original - expected).max(-1) < 40).mean() < 0.5
