"""Users' own data (issue 10.3, 11.5): the configs of configs/custom on files shaped like a
labelling tool's export, and bad data reported by file before or at the point of use.

The end-to-end tests train the shipped custom configs through tools/train.py and test them
through tools/test.py for one epoch / two iterations on 64 px images, with the backbone
"pretrained" from a local checkpoint (random MobileOne-S0 weights: no download).
"""
import json
import logging
import os
import os.path as osp
import shutil
from unittest import mock

import numpy as np
import pytest
import torch
from helpers import small_run_options
from mmengine.config import Config
from PIL import Image

from mmmobileone.datasets import check_user_data, validate_coco_file
from mmmobileone.datasets.coco_format import (NEGATIVE_SIZE, NON_FINITE, OUTSIDE, ZERO_SIZE,
                                              load_json_file)
from mmmobileone.datasets.image_files import image_file_problem
from mmmobileone.datasets.synthetic import coco_paths, generate_coco, generate_imagenet
from mmmobileone.errors import DataError
from tools.test import test as run_test
from tools.train import main as main_train
from tools.train import prepare as prepare_train
from tools.train import train as run_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET_CONFIG = osp.join(ROOT, 'configs/custom/ssdlite_mobileone_s0_custom_coco.py')
SEG_CONFIG = osp.join(ROOT, 'configs/custom/deeplabv3_mobileone_s0_custom_voc.py')
CLS_CONFIG = osp.join(ROOT, 'configs/custom/mobileone_s0_custom_imagenet.py')
CLASSES = ('umbrella', 'book')


# --------------------------------------------------------------------------------------------
# data shaped like a labelling tool's export


def tool_export(root: str, num_train: int = 4, num_val: int = 2) -> str:
    """A COCO-format export as labelling tools write it; returns ``root``.

    ``root/annotations/{train,val}.json`` and ``root/images/``: no ``info`` / ``licenses``, no
    ``area`` / ``iscrowd`` / ``segmentation``, a category without boxes (id 0, as Roboflow
    writes the dataset's name), an image without annotations in each split, and in training a
    crowd box, a box reaching past the image border and a zero-width box.
    """
    raw = osp.join(root, 'raw')
    generate_coco(raw, num_train=num_train, num_val=num_val, classes=CLASSES, image_size=64,
                  max_objects=2, seed=3, layout='flat')
    shutil.copytree(osp.join(raw, 'images'), osp.join(root, 'images'))
    os.makedirs(osp.join(root, 'annotations'))
    for split in ('train', 'val'):
        data = load_json_file(osp.join(raw, coco_paths(split, 'flat')[0]))
        del data['info'], data['licenses']
        used = {ann['category_id'] for ann in data['annotations']}
        data['categories'] = [dict(id=0, name='my-shapes', supercategory='none')] + [
            cat for cat in data['categories'] if cat['name'] in CLASSES or cat['id'] in used]
        for ann in data['annotations']:
            for key in ('area', 'iscrowd', 'segmentation'):
                del ann[key]
        first = data['images'][0]
        extra = dict(first, id=max(im['id'] for im in data['images']) + 1000,
                     file_name=f'unlabelled_{split}.jpg')
        shutil.copy(osp.join(root, 'images', first['file_name']),
                    osp.join(root, 'images', extra['file_name']))
        data['images'].append(extra)
        if split == 'train':
            next_id = max(ann['id'] for ann in data['annotations']) + 1
            cat = data['annotations'][0]['category_id']
            data['annotations'] += [
                dict(id=next_id, image_id=first['id'], category_id=cat, bbox=[2, 2, 20, 20],
                     iscrowd=1),
                dict(id=next_id + 1, image_id=first['id'], category_id=cat,
                     bbox=[-6, 40, 30, 30]),  # partly outside (clipped in training)
                dict(id=next_id + 2, image_id=first['id'], category_id=cat,
                     bbox=[10, 10, 0, 12]),  # zero width: dropped, with a warning
            ]
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(data, f)
    shutil.rmtree(raw)
    return root


def write_voc_export(root: str, num_train: int = 4, num_val: int = 2, size: int = 64) -> str:
    """VOC-style segmentation: JPEGImages, palette label PNGs (0-2, 255 borders), ImageSets."""
    rng = np.random.default_rng(0)
    for folder in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, folder), exist_ok=True)
    palette = [0, 0, 0, 128, 64, 128, 0, 0, 142] + [0] * (3 * 252) + [224, 224, 192]
    names = {'train': [], 'val': []}
    for i in range(num_train + num_val):
        split = 'train' if i < num_train else 'val'
        name = f'frame_{i:04d}'
        label = np.zeros((size, size), np.uint8)
        x0, y0 = rng.integers(0, size // 2, 2)
        label[y0:y0 + size // 3, x0:x0 + size // 3] = 1 + i % 2
        label[y0, x0:x0 + size // 3] = 255  # a border, ignored
        image = np.full((size, size, 3), 90, np.uint8)
        image[label == 1] = (200, 60, 60)
        image[label == 2] = (60, 60, 200)
        Image.fromarray(image).save(osp.join(root, 'JPEGImages', f'{name}.jpg'), quality=95)
        png = Image.fromarray(label, mode='P')
        png.putpalette(palette)
        png.save(osp.join(root, 'SegmentationClass', f'{name}.png'))
        names[split].append(name)
    for split, items in names.items():
        with open(osp.join(root, 'ImageSets/Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(items) + '\n')
    return root


def local_weights(path: str, image_dir: str) -> str:
    """A local "ImageNet" MobileOne-S0 checkpoint at ``path`` (mmpretrain's key names).

    Random weights, with BatchNorm statistics measured on the images under ``image_dir``, as a
    trained network's fit its data: with ``norm_eval`` the statistics stay as loaded, and ones
    of other inputs make activations explode.
    """
    from mmmobileone import MobileOne
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    files = sorted(osp.join(d, f) for d, _, names in os.walk(image_dir) for f in names
                   if f.endswith('.jpg') or f.endswith('.JPEG'))[:8]
    images = torch.stack([
        torch.from_numpy(np.array(Image.open(f).convert('RGB').resize((64, 64)))).permute(2, 0, 1)
        for f in files]).float()
    torch.manual_seed(0)
    model = MobileOne('s0').train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average
    with torch.no_grad():
        model((images - mean) / std)
    state = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state), path)
    return path


def _quick(cfg_path, data_root, weights, extra=()):
    """--cfg-options for a quick, offline run of a detection or classification config."""
    options = [f'model.backbone.init_cfg.checkpoint={weights}',
               'default_hooks.checkpoint.save_optimizer=False']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False',
                    f'{split}_dataloader.batch_size=2',
                    f'{split}_dataloader.dataset.data_root={data_root}']
        if cfg_path == DET_CONFIG:
            options.append(f'{split}_dataloader.dataset.metainfo.classes=({",".join(CLASSES)})')
    return options + list(extra)


def _log_text(work_dir: str) -> str:
    logs = [osp.join(d, f) for d, _, files in os.walk(work_dir) for f in files
            if f.endswith('.log')]
    return ''.join(open(path).read() for path in logs)


# --------------------------------------------------------------------------------------------
# upstream failures on a labelling tool's COCO file, and what ours does with it


def _predictions(val_json, boxes=True):
    data = load_json_file(val_json)
    samples = []
    for image in data['images']:
        n = 1 if boxes else 0
        samples.append(dict(img_id=image['id'], ori_shape=(image['height'], image['width']),
                            pred_instances=dict(bboxes=torch.tensor([[4., 4., 30., 30.]] * n),
                                                scores=torch.full((n, ), 0.9),
                                                labels=torch.zeros(n, dtype=torch.long))))
    return samples


def _evaluate(metric, samples):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_upstream_coco_classes_fail_on_tool_export_ours_read_it(tmp_path):
    from mmdet.datasets import CocoDataset as MMDetCocoDataset
    from mmdet.evaluation import CocoMetric as MMDetCocoMetric

    from mmmobileone.integrations.mmdet import CocoDataset, CocoMetric
    root = tool_export(str(tmp_path / 'export'))
    val_json = osp.join(root, 'annotations/val.json')
    # pycocotools' loadRes copies dataset['info']: the crash at the first validation
    with pytest.raises(KeyError, match='info'):
        _evaluate(MMDetCocoMetric(ann_file=val_json), _predictions(val_json))
    # mmdet's CocoDataset reads ann['area']
    with pytest.raises(KeyError, match='area'):
        MMDetCocoDataset(data_root=root, ann_file='annotations/train.json',
                         data_prefix=dict(img='images/'), metainfo=dict(classes=CLASSES),
                         pipeline=[])

    metrics = _evaluate(CocoMetric(ann_file=val_json), _predictions(val_json))
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    with mock.patch('mmmobileone.integrations.mmdet.coco.print_log') as log:
        dataset = CocoDataset(data_root=root, ann_file='annotations/train.json',
                              data_prefix=dict(img='images/'), metainfo=dict(classes=CLASSES),
                              filter_cfg=dict(filter_empty_gt=True), pipeline=[])
    data = load_json_file(osp.join(root, 'annotations/train.json'))
    crowd, partly_outside, zero_width = data['annotations'][-3:]
    instances = [inst for i in range(len(dataset))
                 for inst in dataset.get_data_info(i)['instances']]
    assert sum(inst['ignore_flag'] for inst in instances) == 1  # the crowd box, ignored
    assert len(instances) == len(data['annotations']) - 1  # only the zero-width box dropped
    assert len(dataset) == len(data['images']) - 1  # the unlabelled image is not trained on
    message = log.call_args[0][0]
    assert f'1 of {len(data["annotations"])} boxes' in message
    assert f'{ZERO_SIZE} (annotation ids {zero_width["id"]})' in message


def test_dropped_boxes_are_counted_and_named(tmp_path):
    from mmmobileone.integrations.mmdet import CocoDataset
    root = tool_export(str(tmp_path / 'export'), num_train=2, num_val=1)
    train_json = osp.join(root, 'annotations/train.json')
    bad = {0: [float('nan'), 3, 10, 10], 1: [100, 100, 10, 10], 2: [5, 5, -3, 10]}

    def damage(data):
        for index, box in bad.items():
            data['annotations'][index]['bbox'] = box

    _rewrite(train_json, damage)
    ids = [ann['id'] for ann in load_json_file(train_json)['annotations']]
    with mock.patch('mmmobileone.integrations.mmdet.coco.print_log') as log:
        CocoDataset(data_root=root, ann_file='annotations/train.json',
                    data_prefix=dict(img='images/'), metainfo=dict(classes=CLASSES), pipeline=[])
    message = log.call_args[0][0]
    assert f'{train_json}: 4 of {len(ids)} boxes are unusable and dropped' in message
    assert f'1 with {NON_FINITE} (annotation ids {ids[0]})' in message
    assert f'1 with {OUTSIDE} (annotation ids {ids[1]})' in message
    assert f'1 with {NEGATIVE_SIZE} (annotation ids {ids[2]})' in message
    assert f'1 with {ZERO_SIZE} (annotation ids {ids[-1]})' in message


def test_no_predictions_give_map_zero_with_a_warning(tmp_path):
    from mmdet.evaluation import CocoMetric as MMDetCocoMetric

    from mmmobileone.integrations.mmdet import CocoMetric
    root = tool_export(str(tmp_path / 'export'))
    val_json = osp.join(root, 'annotations/val.json')
    data = load_json_file(val_json)
    data['info'] = {}  # so that mmdet's metric gets as far as the predictions
    with open(val_json, 'w') as f:
        json.dump(data, f)
    assert _evaluate(MMDetCocoMetric(ann_file=val_json), _predictions(val_json, False)) == {}
    with mock.patch('mmmobileone.integrations.mmdet.coco.print_log') as log:
        metrics = _evaluate(CocoMetric(ann_file=val_json), _predictions(val_json, False))
    assert metrics['coco/bbox_mAP'] == 0.0 and metrics['coco/bbox_mAP_50'] == 0.0
    assert 'predicted no box' in log.call_args[0][0]
    assert log.call_args[1]['level'] == logging.WARNING


# --------------------------------------------------------------------------------------------
# invalid and unreadable files: one line naming the file (and the index), before training


def _det_argv(root, work_dir, weights, extra=()):
    options = _quick(DET_CONFIG, root, weights, [
        f'val_evaluator.ann_file={root}/annotations/val.json',
        f'test_evaluator.ann_file={root}/annotations/val.json', *extra])
    return [DET_CONFIG, '--work-dir', str(work_dir), '--cfg-options', *options]


def _rewrite(path, change):
    data = load_json_file(path)
    change(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_invalid_coco_file_reported_before_training_by_file_and_index(tmp_path, caplog):
    root = tool_export(str(tmp_path / 'export'))
    train_json = osp.join(root, 'annotations/train.json')

    def damage(data):
        data['annotations'][1]['bbox'][2] = -4.0  # negative width
        data['annotations'][2]['category_id'] = 99  # not in "categories"
        data['images'][2]['file_name'] = 'gone.jpg'  # no such file
        data['annotations'][3]['bbox'][0] = float('nan')  # dropped: warning only

    _rewrite(train_json, damage)
    problems = validate_coco_file(train_json, osp.join(root, 'images'))
    assert len(problems.errors) == 3
    assert 'annotations[1] (id ' in problems.errors[1] and 'negative width' in problems.errors[1]
    assert 'annotations[2]' in problems.errors[2] and 'category_id 99' in problems.errors[2]
    assert "images[2]" in problems.errors[0] and "'gone.jpg'" in problems.errors[0]
    assert problems.dropped[NON_FINITE] == [load_json_file(train_json)['annotations'][3]['id']]
    assert NON_FINITE in problems.warnings[0]

    caplog.set_level(logging.INFO)
    assert main_train(_det_argv(root, tmp_path / 'work', 'unused.pth')) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and train_json in errors[0]
    assert 'annotations[1]' in errors[0] and 'images[2]' in errors[0]
    assert not osp.exists(tmp_path / 'work')  # stopped before the Runner


@pytest.mark.parametrize('content, expected', [
    (b'', 'is empty (0 bytes)'),
    (b'<html>502 Bad Gateway</html>', 'is not valid JSON: Expecting value at line 1 column 1'),
    (b'{"images": [], "annotations": [], "categories": []}', '"images" list is empty'),
])
def test_empty_or_non_json_annotation_file_is_one_line(tmp_path, caplog, content, expected):
    root = tool_export(str(tmp_path / 'export'), num_train=1, num_val=1)
    with open(osp.join(root, 'annotations/train.json'), 'wb') as f:
        f.write(content)
    assert main_train(_det_argv(root, tmp_path / 'work', 'unused.pth')) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and expected in errors[0]
    assert osp.join(root, 'annotations/train.json') in errors[0]


def test_empty_split_file_or_image_folder_is_one_line(tmp_path, caplog):
    root = write_voc_export(str(tmp_path / 'my_voc'), num_train=1, num_val=1, size=16)
    split_file = osp.join(root, 'ImageSets/Segmentation/train.txt')
    open(split_file, 'w').write('\n')
    argv = [SEG_CONFIG, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
            *small_run_options(Config.fromfile(SEG_CONFIG), root)]
    assert main_train(argv) == 1  # mmengine: "need at least one array to concatenate"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f'split file {split_file!r}' in errors[0]
    assert 'lists no images' in errors[0]
    images = tmp_path / 'my_images'
    for folder in ('train/cat', 'train/dog', 'val/cat'):
        (images / folder).mkdir(parents=True)
    with pytest.raises(ValueError, match=r"image folder .*my_images/train' .* holds no files"):
        prepare_train([CLS_CONFIG, '--cfg-options', f'train_dataloader.dataset.data_root={images}',
                       f'val_dataloader.dataset.data_root={images}'])


def test_zero_byte_image_of_a_coco_file_reported_before_training(tmp_path):
    root = tool_export(str(tmp_path / 'export'), num_train=2, num_val=1)
    data = load_json_file(osp.join(root, 'annotations/train.json'))
    open(osp.join(root, 'images', data['images'][1]['file_name']), 'wb').close()
    with pytest.raises(ValueError, match=r"0-byte image files .* images\[1\] \(id "):
        prepare_train(_det_argv(root, tmp_path / 'work', 'unused.pth'))


def test_unreadable_images_are_named_at_the_point_of_use(tmp_path):
    import cv2
    from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile

    from mmmobileone.integrations.mmcv import LoadImageFromFile, UnreadableImageError
    good = str(tmp_path / 'good.jpg')
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(good, quality=90)
    raw = open(good, 'rb').read()
    empty, truncated = str(tmp_path / 'empty.jpg'), str(tmp_path / 'cut.jpg')
    open(empty, 'wb').close()
    open(truncated, 'wb').write(raw[:len(raw) // 2])
    assert image_file_problem(good) is None
    # mmcv: OpenCV's assertion, no file name
    with pytest.raises(cv2.error, match=r"Assertion failed\) !buf\.empty\(\) in function "
                       r"'imdecode_'") as upstream:
        MMCVLoadImageFromFile().transform(dict(img_path=empty))
    assert 'empty.jpg' not in str(upstream.value)
    for path, reason in ((empty, 'the file is empty (0 bytes)'),
                         (truncated, 'truncated JPEG: no end-of-image marker')):
        with pytest.raises(UnreadableImageError) as error:
            LoadImageFromFile().transform(dict(img_path=path))
        assert str(error.value) == f'cannot read image {path!r}: {reason}' + (
            f' ({len(raw) // 2} bytes)' if path == truncated else '')
    skipping = LoadImageFromFile(ignore_empty=True)
    with mock.patch('mmmobileone.integrations.mmcv.loading.print_log') as log:
        assert skipping.transform(dict(img_path=empty)) is None
    assert skipping.num_skipped == 1 and empty in log.call_args[0][0]
    assert LoadImageFromFile().transform(dict(img_path=good))['img'].shape == (32, 32, 3)


def test_user_data_checks_change_nothing_and_the_hint_names_unchecked_types(tmp_path):
    """The pre-flight data checks validate host-typed COCO entries too, but leave the config as
    it is; the safeguards hint names the bare host types (not the scoped one) in one list."""
    from mmmobileone.engine.safeguards import missing_safeguards
    cfg = Config.fromfile(DET_CONFIG)
    cfg.val_evaluator.type = 'CocoMetric'
    cfg.test_evaluator.type = 'mmdet.CocoMetric'  # scoped: the user's explicit choice
    cfg.train_dataloader.dataset.type = 'CocoDataset'
    root = tool_export(str(tmp_path / 'export'), num_train=1, num_val=1)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = f'{root}/annotations/val.json'
    with pytest.raises(DataError, match=r"classes \['cat', 'dog'\] are not category names"):
        check_user_data(cfg)  # the config's classes, not the file's
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.metainfo.classes = CLASSES
    before = cfg.to_dict()
    check_user_data(cfg)
    assert cfg.to_dict() == before
    assert missing_safeguards(cfg) == ['train_dataloader.dataset (CocoDataset)',
                                       'val_evaluator (CocoMetric)']


# --------------------------------------------------------------------------------------------
# the custom configs end to end: tools/train.py, then tools/test.py


@pytest.mark.slow
def test_custom_coco_detection_config_end_to_end(tmp_path):
    root = tool_export(str(tmp_path / 'export'))
    s0_weights = local_weights(str(tmp_path / 's0.pth'), root)
    work_dir = tmp_path / 'work'
    small = ['train_dataloader.dataset.pipeline.4.scale=(64,64)',
             'val_dataloader.dataset.pipeline.1.scale=(64,64)',
             'test_dataloader.dataset.pipeline.1.scale=(64,64)', 'train_cfg.max_epochs=1',
             'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1']
    runner = run_train(_det_argv(root, work_dir, s0_weights, small))
    backbone = runner.model.backbone
    assert backbone.norm_eval and not any(p.requires_grad for p in backbone.stage0.parameters())
    log = _log_text(str(work_dir))
    assert 'boxes are unusable and dropped: 1 with zero width' in log
    checkpoint = str(work_dir / 'epoch_1.pth')
    metrics = run_test([*_det_argv(root, tmp_path / 'test', s0_weights, small)[:1], checkpoint,
                        *_det_argv(root, tmp_path / 'test', s0_weights, small)[1:]])
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    # a model that predicts nothing: mAP 0 (and a warning), not an empty metrics block
    nothing = [*_det_argv(root, tmp_path / 'none', s0_weights,
                          [*small, 'model.test_cfg.score_thr=1.1'])]
    metrics = run_test([nothing[0], checkpoint, *nothing[1:]])
    assert metrics['coco/bbox_mAP'] == 0.0
    assert 'predicted no box' in _log_text(str(tmp_path / 'none'))


@pytest.mark.slow
def test_custom_voc_segmentation_config_end_to_end(tmp_path):
    root = write_voc_export(str(tmp_path / 'my_voc'))
    s0_weights = local_weights(str(tmp_path / 's0.pth'), root)
    cfg = Config.fromfile(SEG_CONFIG)
    options = [o for o in small_run_options(cfg, root, crop_size=32, max_iters=2)
               if o != 'model.backbone.init_cfg=None']
    options += [f'model.backbone.init_cfg.checkpoint={s0_weights}', 'val_dataloader.batch_size=2',
                'test_dataloader.batch_size=2']
    work_dir = str(tmp_path / 'work')
    runner = run_train([SEG_CONFIG, '--work-dir', work_dir, '--cfg-options', *options])
    assert runner.model.backbone.norm_eval
    metrics = run_test([SEG_CONFIG, osp.join(work_dir, 'iter_2.pth'), '--work-dir',
                        str(tmp_path / 'test'), '--cfg-options', *options])
    assert 0 <= metrics['mIoU'] <= 100


@pytest.mark.slow
def test_custom_imagenet_folders_config_end_to_end(tmp_path, caplog):
    root = str(tmp_path / 'my_images')
    generate_imagenet(root, classes=('cat', 'dog'), train_per_class=2, val_per_class=1,
                      image_size=40, meta=False, seed=0)
    s0_weights = local_weights(str(tmp_path / 's0.pth'), root)
    small = _quick(CLS_CONFIG, root, s0_weights, [
        'train_dataloader.dataset.pipeline.1.scale=32',
        'val_dataloader.dataset.pipeline.1.scale=36',
        'val_dataloader.dataset.pipeline.2.crop_size=32',
        'test_dataloader.dataset.pipeline.1.scale=36',
        'test_dataloader.dataset.pipeline.2.crop_size=32', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.interval=1'])
    work_dir = str(tmp_path / 'work')
    runner = run_train([CLS_CONFIG, '--work-dir', work_dir, '--cfg-options', *small])
    assert runner.model.backbone.norm_eval and runner.model.head.num_classes == 2
    metrics = run_test([CLS_CONFIG, osp.join(work_dir, 'epoch_1.pth'), '--work-dir',
                        str(tmp_path / 'test'), '--cfg-options', *small])
    assert 0 <= metrics['accuracy/top1'] <= 100
    # a truncated JPEG stops training with its file name (mmcv: "failed to load image")
    victim = sorted(os.listdir(osp.join(root, 'train', 'dog')))[0]
    victim = osp.join(root, 'train', 'dog', victim)
    raw = open(victim, 'rb').read()
    open(victim, 'wb').write(raw[:len(raw) // 3])
    caplog.set_level(logging.INFO)
    assert main_train([CLS_CONFIG, '--work-dir', str(tmp_path / 'again'), '--cfg-options',
                       *small]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and f'cannot read image {victim!r}: truncated JPEG' in errors[-1]
