"""mmmobileone.datasets.synthetic: each generator's output, read by the real dataset classes.

Every check is computed from the written files: boxes against the drawn pixels, label PNG
values against the image colours, counts, determinism and the refusal to overwrite.
"""
import ast
import filecmp
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from mmmobileone.datasets.synthetic import (MARKER, SHAPE_CLASSES, VOC_PALETTE, coco_paths,
                                            generate_ade20k, generate_coco, generate_coco_voc,
                                            generate_imagenet, generate_voc)
from mmmobileone.datasets.synthetic.imagenet import class_appearance
from mmmobileone.datasets.synthetic.shapes import HUE_JITTER, SHAPES, label_colour


def _files(root: str) -> list:
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def _hue_distance(hue: np.ndarray, target: int) -> np.ndarray:
    d = np.abs(hue.astype(int) - target) % 180
    return np.minimum(d, 180 - d)


def _polygon_mask(polygons, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        cv2.fillPoly(mask, [np.round(np.reshape(polygon, (-1, 2))).astype(np.int32)], 1)
    return mask


# --------------------------------------------------------------------------------------------
# generic: no framework imports, determinism, refusal to overwrite


@pytest.mark.slow
def test_generators_import_only_numpy_pillow_opencv_and_the_standard_library():
    package = osp.join(ROOT, 'mmmobileone', 'datasets', 'synthetic')
    imported = set()
    for name in os.listdir(package):
        if name.endswith('.py'):
            with open(osp.join(package, name)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split('.')[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    imported.add(node.module.split('.')[0])
    assert imported == {'cv2', 'json', 'logging', 'math', 'numpy', 'os', 'PIL', 'typing'}
    # and importing the package loads no OpenMMLab task library
    code = ('import sys, mmmobileone.datasets.synthetic; '
            'print(sorted({m.split(".")[0] for m in sys.modules} & '
            '{"mmdet", "mmseg", "mmpretrain"}))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == '[]'


GENERATORS = dict(
    coco=lambda root, seed: generate_coco(root, num_train=2, num_val=1, image_size=48,
                                          seed=seed),
    imagenet=lambda root, seed: generate_imagenet(root, classes=2, train_per_class=1,
                                                  val_per_class=1, image_size=16, seed=seed),
    voc=lambda root, seed: generate_voc(root, 1, 1, 1, image_size=(16, 12), seed=seed),
    ade20k=lambda root, seed: generate_ade20k(root, 1, 1, image_size=(16, 12), seed=seed),
)


@pytest.mark.parametrize('kind', sorted(GENERATORS))
def test_same_seed_same_files_other_seed_other_images(kind, tmp_path):
    generate = GENERATORS[kind]
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        generate(str(tmp_path / name), seed)
    files = _files(str(tmp_path / 'a'))
    assert MARKER in files and files == _files(str(tmp_path / 'b')) == _files(str(tmp_path / 'c'))
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'b', files,
                                               shallow=False)
    assert sorted(match) == files and not mismatch and not errors
    images = [f for f in files if f.endswith(('.jpg', '.JPEG'))]
    _, mismatch, _ = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'c', images, shallow=False)
    assert sorted(mismatch) == images


@pytest.mark.parametrize('kind', sorted(GENERATORS))
def test_refuses_folders_it_did_not_write(kind, tmp_path):
    generate = GENERATORS[kind]
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine\n')
    with pytest.raises(FileExistsError, match='not a synthetic dataset'):
        generate(str(foreign), 0)
    assert _files(str(foreign)) == ['notes.txt']
    # another generator's output is refused too, even with overwrite
    other = 'voc' if kind != 'voc' else 'ade20k'
    GENERATORS[other](str(tmp_path / 'other'), 0)
    before = _files(str(tmp_path / 'other'))
    with pytest.raises(FileExistsError, match='another generator'):
        generate(str(tmp_path / 'other'), 0)
    assert _files(str(tmp_path / 'other')) == before
    # its own output: only with overwrite=True
    generate(str(tmp_path / 'own'), 0)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        generate(str(tmp_path / 'own'), 0)
    with pytest.raises(NotADirectoryError):
        generate(str(foreign / 'notes.txt'), 0)


def test_overwrite_removes_only_its_own_files(tmp_path):
    root = str(tmp_path / 'coco')
    generate_coco(root, num_train=5, num_val=2, image_size=48)
    (tmp_path / 'coco' / 'README').write_text('added by the user\n')
    generate_coco(root, num_train=2, num_val=1, image_size=48, overwrite=True)
    # no stale images of the larger dataset: 3 images now, ids 1-3
    assert sorted(os.listdir(tmp_path / 'coco' / 'train2017')) == [
        '000000000001.jpg', '000000000002.jpg']
    assert os.listdir(tmp_path / 'coco' / 'val2017') == ['000000000003.jpg']
    assert (tmp_path / 'coco' / 'README').read_text() == 'added by the user\n'
    with open(osp.join(root, MARKER)) as f:
        marker = json.load(f)
    assert marker['generator'] == 'coco' and marker['complete']
    assert sorted(marker['files']) == sorted(set(_files(root)) - {MARKER, 'README'})


def test_coco_written_before_markers_is_recognized(tmp_path):
    root = str(tmp_path / 'coco')
    generate_coco(root, num_train=1, num_val=1, image_size=48)
    os.remove(osp.join(root, MARKER))  # as the generator wrote it before markers existed
    with pytest.raises(FileExistsError, match='overwrite=True'):
        generate_coco(root, num_train=1, num_val=1, image_size=48)
    generate_coco(root, num_train=1, num_val=1, image_size=48, overwrite=True)
    assert osp.isfile(osp.join(root, MARKER))


# --------------------------------------------------------------------------------------------
# COCO: mmdet's CocoDataset


def _check_coco_objects(dataset, ann_path, classes, width, height):
    """Each instance's box is the pixel extent of its polygons, drawn in its class's hue."""
    with open(ann_path) as f:
        data = json.load(f)
    names = {c['id']: c['name'] for c in data['categories']}
    instances = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert (info['width'], info['height']) == (width, height)
        image = cv2.imread(info['img_path'])
        assert image.shape == (height, width, 3)
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        anns = [a for a in data['annotations'] if a['image_id'] == info['img_id']]
        assert len(info['instances']) == len(anns) >= 1
        taken = np.zeros((height, width), bool)
        for instance, ann in zip(info['instances'], anns):
            name = names[ann['category_id']]
            assert classes[instance['bbox_label']] == name and instance['ignore_flag'] == 0
            x0, y0, x1, y1 = instance['bbox']  # mmdet reads xywh as xyxy, x1 = x + w
            mask = _polygon_mask(ann['segmentation'], height, width)
            ys, xs = np.nonzero(mask)
            assert [x0, y0, x1, y1] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            # the drawn pixels: the class hue, saturated, inside the mask
            inner = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
            if SHAPE_CLASSES[name] == 'ring':  # the polygon is the outline: the hole is filled
                assert ann['area'] < mask.sum()
                ys, xs = np.mgrid[0:height, 0:width]
                radius = (x1 - x0) / 2
                hole = np.hypot(xs - (x0 + x1 - 1) / 2, ys - (y0 + y1 - 1) / 2) < 0.55 * radius
                inner &= ~hole
            else:
                assert ann['area'] == mask.sum()
            hue_ok = _hue_distance(hsv[..., 0][inner], SHAPES[SHAPE_CLASSES[name]]) <= \
                HUE_JITTER + 4
            assert hue_ok.mean() > 0.95
            assert np.median(hsv[..., 1][inner]) >= 150
            # shapes never overlap and keep a gap: the boxes are disjoint
            assert not taken[y0:y1, x0:x1].any()
            taken[max(0, y0 - 1):y1 + 1, max(0, x0 - 1):x1 + 1] = True
            instances += 1
    return instances


@pytest.mark.slow
def test_coco_mmdet_layout_through_coco_dataset(tmp_path):
    from mmdet.datasets import CocoDataset
    classes = ('umbrella', 'sports ball', 'pizza', 'donut', 'book')
    root = str(tmp_path / 'coco')
    counts = generate_coco(root, num_train=6, num_val=3, classes=classes, image_size=(96, 80),
                           seed=3)
    assert sorted(_files(root)) == sorted(
        [MARKER, 'annotations/instances_train2017.json', 'annotations/instances_val2017.json']
        + [f'train2017/{i:012d}.jpg' for i in range(1, 7)]
        + [f'val2017/{i:012d}.jpg' for i in range(7, 10)])
    # in COCO id order, as the json lists them: mmdet numbers the classes in that order
    assert list(classes) == sorted(classes, key=list(SHAPE_CLASSES).index)
    for split, test_mode in (('train', False), ('val', True)):
        ann_file, images = coco_paths(split)
        dataset = CocoDataset(data_root=root, ann_file=ann_file, data_prefix=dict(img=images),
                              metainfo=dict(classes=classes), test_mode=test_mode,
                              pipeline=[])
        assert len(dataset) == counts[f'{split}_images']
        assert _check_coco_objects(dataset, osp.join(root, ann_file), classes, 96,
                                   80) == counts[f'{split}_objects']
        with open(osp.join(root, ann_file)) as f:
            data = json.load(f)
        assert len(data['categories']) == 80
        assert {c['name']: c['id'] for c in data['categories']}['sports ball'] == 37


def test_coco_flat_layout_through_coco_dataset(tmp_path):
    from mmdet.datasets import CocoDataset
    classes = ('stop sign', 'kite')
    root = str(tmp_path / 'flat')
    counts = generate_coco(root, num_train=3, num_val=2, classes=classes, image_size=64,
                           max_objects=3, seed=1, layout='flat')
    assert coco_paths('val', layout='flat') == ('val.json', 'images')
    assert sorted(os.listdir(root)) == sorted([MARKER, 'images', 'train.json', 'val.json'])
    assert len(os.listdir(osp.join(root, 'images'))) == 5
    paths = []
    for split in ('train', 'val'):
        ann_file, images = coco_paths(split, layout='flat')
        dataset = CocoDataset(data_root=root, ann_file=ann_file, data_prefix=dict(img=images),
                              metainfo=dict(classes=classes), pipeline=[])
        assert len(dataset) == counts[f'{split}_images']
        assert _check_coco_objects(dataset, osp.join(root, ann_file), classes, 64,
                                   64) == counts[f'{split}_objects']
        assert all(len(dataset.get_data_info(i)['instances']) <= 3 for i in range(len(dataset)))
        paths += [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert len(set(paths)) == 5


def test_coco_argument_errors(tmp_path):
    for kwargs in (dict(classes=['cat']), dict(classes=[]), dict(image_size=16),
                   dict(num_val=0), dict(object_size=(0.5, 0.2)), dict(layout='voc')):
        with pytest.raises(ValueError):
            generate_coco(str(tmp_path / 'x'), **kwargs)
    assert not osp.exists(tmp_path / 'x')  # nothing claimed before the arguments are checked


def test_coco_voc_crowd_rle_and_polygons(tmp_path):
    from mmdet.datasets import CocoDataset
    from pycocotools.coco import COCO
    root = str(tmp_path / 'coco')
    expected = generate_coco_voc(root)
    coco = COCO(osp.join(root, 'annotations', 'instances_train2017.json'))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 7
    for ann in coco.loadAnns(coco.getAnnIds()):
        x, y, w, h = ann['bbox']
        box = np.zeros((40, 60), np.uint8)
        box[y:y + h, x:x + w] = 1
        # polygons with corners on pixel edges and the crowd's uncompressed RLE: exact boxes
        assert np.array_equal(coco.annToMask(ann), box)
        assert ann['area'] == w * h
        assert isinstance(ann['segmentation'], dict) is bool(ann['iscrowd'])
    (crowd, ) = coco.loadAnns(coco.getAnnIds(iscrowd=True))
    assert isinstance(crowd['segmentation']['counts'], list)
    dataset = CocoDataset(data_root=root, ann_file='annotations/instances_train2017.json',
                          data_prefix=dict(img='train2017'),
                          metainfo=dict(classes=('person', 'truck', 'dog', 'couch', 'tv')),
                          pipeline=[])
    a = dataset.get_data_info(0)
    assert osp.basename(a['img_path']) == 'a.jpg'
    assert [(i['bbox'], i['ignore_flag']) for i in a['instances']] == [
        ([5, 5, 35, 35], 0), ([10, 10, 20, 30], 0), ([40, 0, 60, 10], 0), ([40, 20, 60, 40], 1)]
    assert sorted(expected) == ['a.jpg', 'b.jpg', 'c.jpg']
    assert np.bincount(expected['a.jpg'].ravel(), minlength=256)[[0, 12, 15, 255]].tolist() == [
        2400 - 900 - 400, 200, 700, 400]
    assert not expected['c.jpg'].any()


def test_uncompressed_rle_decodes_with_pycocotools():
    from pycocotools import mask as mask_utils

    from mmmobileone.datasets.synthetic.voc import _uncompressed_rle
    rng = np.random.default_rng(0)
    for first in (0, 1):
        mask = (rng.random((7, 9)) < 0.4).astype(np.uint8)
        mask[0, 0] = first
        rle = _uncompressed_rle(mask)
        assert rle['size'] == [7, 9] and sum(rle['counts']) == 63
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, 7, 9))
        assert np.array_equal(decoded, mask)


# --------------------------------------------------------------------------------------------
# ImageNet: mmpretrain's ImageNet and CustomDataset


def _shows_class(path: str, label: int) -> bool:
    """The picture's vivid pixels (its shape; the background is pale) have the class's hue."""
    hsv = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2HSV)
    vivid = (hsv[..., 1] >= 150) & (hsv[..., 2] >= 130)
    hue = class_appearance(label)[1]
    return vivid.mean() > 0.04 and np.median(_hue_distance(hsv[..., 0][vivid], hue)) <= \
        HUE_JITTER + 3


def test_imagenet_layout_through_mmpretrain_imagenet(tmp_path):
    from mmpretrain.datasets import ImageNet
    root = str(tmp_path / 'imagenet')
    samples = generate_imagenet(root, classes=5, train_per_class=3, val_per_class=2,
                                image_size=48, seed=4)
    with open(osp.join(root, 'meta', 'val.txt')) as f:
        assert f.read().splitlines()[:2] == ['ILSVRC2012_val_00000001.JPEG 0',
                                             'ILSVRC2012_val_00000002.JPEG 1']
    for split, count in (('train', 15), ('val', 10)):
        dataset = ImageNet(data_root=root, split=split, pipeline=[])
        assert len(dataset) == len(samples[split]) == count
        labels = [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]
        assert labels == [label for _, label in samples[split]]
        assert np.bincount(labels).tolist() == [count // 5] * 5
        for i in range(len(dataset)):
            path = dataset.get_data_info(i)['img_path']
            assert Image.open(path).size == (48, 48)
            assert _shows_class(path, labels[i]), path
    assert sorted(os.listdir(osp.join(root, 'train'))) == [f'n{k:08d}' for k in range(5)]


def test_class_folders_through_mmpretrain_custom_dataset(tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = str(tmp_path / 'folders')
    names = ('cat', 'dog', 'fox')
    generate_imagenet(root, classes=names, train_per_class=2, val_per_class=3, image_size=32,
                      meta=False)
    assert sorted(os.listdir(root)) == sorted([MARKER, 'train', 'val'])  # no meta/
    for split, per_class in (('train', 2), ('val', 3)):
        dataset = CustomDataset(data_root=root, data_prefix=split, pipeline=[])
        assert dataset.CLASSES == names
        assert len(dataset) == 3 * per_class
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            folder = osp.basename(osp.dirname(info['img_path']))
            assert names[info['gt_label']] == folder
            assert _shows_class(info['img_path'], info['gt_label'])


def test_imagenet_argument_errors(tmp_path):
    for kwargs in (dict(classes=0), dict(classes=['a', 'a']), dict(classes=1000),
                   dict(train_per_class=0), dict(image_size=8)):
        with pytest.raises(ValueError):
            generate_imagenet(str(tmp_path / 'x'), **kwargs)
    assert not osp.exists(tmp_path / 'x')


# --------------------------------------------------------------------------------------------
# segmentation: mmseg's PascalVOCDataset and ADE20KDataset


def _check_label_colours(image: np.ndarray, labels: np.ndarray, ignore=(0, 255)) -> set:
    """Away from region borders (JPEG's chroma blur), each label's pixels show its colour."""
    seen = set()
    for label in np.unique(labels):
        if label in ignore:
            continue
        inner = cv2.erode((labels == label).astype(np.uint8), np.ones((5, 5), np.uint8))
        if inner.any():
            diff = np.abs(image[inner.astype(bool)].astype(int) - label_colour(int(label)))
            assert diff.max() <= 8, (label, diff.max())
            seen.add(int(label))
    return seen


def test_voc_through_mmseg_pascal_voc_dataset(tmp_path):
    from mmseg.datasets import PascalVOCDataset
    from mmseg.datasets.transforms import LoadAnnotations
    root = str(tmp_path / 'VOC2012')
    names = generate_voc(root, num_train=3, num_aug=2, num_val=2, image_size=(64, 48), seed=5)
    assert names == dict(train=['2007_000000', '2007_000001', '2007_000002'],
                         aug=['2007_000003', '2007_000004'], val=['2007_000005', '2007_000006'])
    assert list(np.array(PascalVOCDataset.METAINFO['palette']).tolist()) == VOC_PALETTE
    seen = set()
    for split, masks in (('train', 'SegmentationClass'), ('aug', 'SegmentationClassAug'),
                         ('val', 'SegmentationClass')):
        dataset = PascalVOCDataset(data_root=root, ann_file=f'ImageSets/Segmentation/{split}.txt',
                                   data_prefix=dict(img_path='JPEGImages', seg_map_path=masks),
                                   pipeline=[LoadAnnotations()])
        assert len(dataset) == len(names[split])
        for i in range(len(dataset)):
            sample = dataset[i]
            seg = sample['gt_seg_map']
            png = Image.open(sample['seg_map_path'])
            assert png.mode == ('P' if masks == 'SegmentationClass' else 'L')
            if png.mode == 'P':
                assert np.array(png.getpalette()[:63]).reshape(21, 3).tolist() == VOC_PALETTE
            assert seg.shape == (48, 64) and np.array_equal(seg, np.array(png))
            values = set(np.unique(seg).tolist())
            assert values <= set(range(21)) | {255} and values & set(range(1, 21))
            # VOC's void band: only in SegmentationClass, and it separates every two labels
            assert (255 in values) is (masks == 'SegmentationClass')
            for a, b in ((seg[:, 1:], seg[:, :-1]), (seg[1:], seg[:-1])):
                touching = (a != b) & (a != 255) & (b != 255)
                assert bool(touching.any()) is (masks == 'SegmentationClassAug')
            image = cv2.imread(sample['img_path'])
            seen |= _check_label_colours(image, seg)
    assert len(seen) >= 5


def test_ade20k_through_mmseg_ade20k_dataset(tmp_path):
    from mmseg.datasets import ADE20KDataset, BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations
    root = str(tmp_path / 'ADEChallengeData2016')
    names = generate_ade20k(root, num_train=3, num_val=2, image_size=(64, 48), seed=6)
    assert names == dict(training=[f'ADE_train_{i:08d}' for i in (1, 2, 3)],
                         validation=['ADE_val_00000001', 'ADE_val_00000002'])
    for split in ('training', 'validation'):
        dataset = ADE20KDataset(data_root=root,
                                data_prefix=dict(img_path=f'images/{split}',
                                                 seg_map_path=f'annotations/{split}'),
                                pipeline=[LoadAnnotations(reduce_zero_label=True)])
        assert len(dataset) == len(names[split])
        assert len(dataset.metainfo['classes']) == 150
        for i in range(len(dataset)):
            sample = dataset[i]
            stored = np.array(Image.open(sample['seg_map_path']))
            assert stored.dtype == np.uint8 and stored.shape == (48, 64)
            assert set(np.unique(stored).tolist()) <= set(range(151))
            # class 1 (wall) along the top; "other" (0) ignored, class k read as k - 1
            assert (stored[:8] == 1).all()
            assert np.array_equal(sample['gt_seg_map'],
                                  np.where(stored == 0, 255, stored.astype(int) - 1))
            assert 1 in _check_label_colours(cv2.imread(sample['img_path']), stored)
    # a small label set in the same layout: a plain 3-class BaseSegDataset
    small = str(tmp_path / 'small')
    generate_ade20k(small, num_train=4, num_val=1, image_size=(32, 32), num_classes=2, seed=2)
    dataset = BaseSegDataset(data_root=small,
                             data_prefix=dict(img_path='images/training',
                                              seg_map_path='annotations/training'),
                             img_suffix='.jpg', seg_map_suffix='.png',
                             metainfo=dict(classes=('background', 'a', 'b')),
                             pipeline=[LoadAnnotations()])
    assert len(dataset) == 4
    values = set()
    for i in range(4):
        seg = dataset[i]['gt_seg_map']
        values |= set(np.unique(seg).tolist())
        _check_label_colours(cv2.imread(dataset[i]['img_path']), seg)
    assert values == {0, 1, 2}
