"""COCO-for-VOC instance masks that pycocotools cannot paint are named and dropped."""
import json
import os.path as osp
from unittest import mock

import numpy as np
import pytest

from mmmobileone.datasets.coco_format import (EMPTY_SEGMENTATION, NOT_A_MASK, NOT_NUMBERS,
                                              ODD_POLYGON, RLE_COUNTS, RLE_SIZE, SHORT_POLYGON,
                                              segmentation_problem)
from mmmobileone.datasets.synthetic import generate_coco_voc
from mmmobileone.datasets.synthetic.coco import COCO_IDS

ANN_FILE = 'annotations/instances_train2017.json'


def test_segmentation_problem_names_what_pycocotools_cannot_paint():
    width, height = 60, 40
    square = [[0, 0, 10, 0, 10, 10, 0, 10]]
    assert segmentation_problem(square, width, height) is None
    assert segmentation_problem([[0, 0, 10, 0, 10, 10]], width, height) is None  # 3 points
    assert segmentation_problem([], width, height) == EMPTY_SEGMENTATION
    assert segmentation_problem([[1, 2, 3, 4]], width, height) == SHORT_POLYGON
    assert segmentation_problem(square + [[]], width, height) == SHORT_POLYGON
    assert segmentation_problem([[0, 0, 10, 0, 10, 10, 5]], width, height) == ODD_POLYGON
    assert segmentation_problem([[0, 0, 10, 0, 10, float('nan')]], width, height) == NOT_NUMBERS
    assert segmentation_problem([[0, 0, 10, 0, 10, True]], width, height) == NOT_NUMBERS
    assert segmentation_problem(dict(size=[40, 60], counts=[2400]), width, height) is None
    assert segmentation_problem(dict(size=[40, 60], counts='PPY1'), width, height) is None
    # COCO's RLE size is [height, width]: the transposed size is wrong
    assert segmentation_problem(dict(size=[60, 40], counts=[2400]), width, height) == RLE_SIZE
    assert segmentation_problem(dict(counts=[2400]), width, height) == RLE_SIZE
    assert segmentation_problem(dict(size=[40, 60], counts=[2399]), width, height) == RLE_COUNTS
    assert segmentation_problem(dict(size=[40, 60]), width, height) == RLE_COUNTS
    assert segmentation_problem(None, width, height) == NOT_A_MASK


def test_unpaintable_masks_are_dropped_with_one_warning_naming_them(tmp_path):
    from mmmobileone.integrations.mmseg import COCOVOCDataset
    root = str(tmp_path / 'coco')
    expected = generate_coco_voc(root)
    path = osp.join(root, ANN_FILE)
    with open(path) as f:
        data = json.load(f)
    width, height = data['images'][1]['width'], data['images'][1]['height']
    # three dogs on b.jpg (image 2) whose masks cannot be painted, as labelling exports write
    # them; a VOC category, large enough to count towards min_area if they were kept
    bad = {101: [], 102: [[1, 1, 5, 1]], 103: dict(size=[10, 10], counts=[100])}
    for ann_id, segmentation in bad.items():
        data['annotations'].append(dict(
            id=ann_id, image_id=2, category_id=COCO_IDS['dog'], segmentation=segmentation,
            area=5000.0, bbox=[1, 1, 20, 20], iscrowd=0))
    with open(path, 'w') as f:
        json.dump(data, f)
    assert [segmentation_problem(s, width, height) for s in bad.values()] == [
        EMPTY_SEGMENTATION, SHORT_POLYGON, RLE_SIZE]

    with mock.patch('mmmobileone.integrations.mmseg.coco_voc.print_log') as log:
        dataset = COCOVOCDataset(data_root=root, ann_file=ANN_FILE,
                                 data_prefix=dict(img_path='train2017'), min_area=61,
                                 pipeline=[dict(type='mmmobileone.LoadCOCOVOCAnnotations')])
    warnings = [c.args[0] for c in log.call_args_list if 'unusable' in c.args[0]]
    assert len(warnings) == 1
    # the generated file has 5 annotations of VOC categories (person, dog, crowd, tv, couch)
    assert warnings[0] == (
        f'{dataset.ann_file}: 3 of 8 instance masks are unusable and dropped: '
        f'1 with {EMPTY_SEGMENTATION} (annotation ids 101); '
        f'1 with {SHORT_POLYGON} (annotation ids 102); '
        f'1 with {RLE_SIZE} (annotation ids 103)')
    # dropped masks add no labelled area: b.jpg (60 pixels) stays under min_area=61
    names = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    assert names == ['a.jpg']
    np.testing.assert_array_equal(dataset[0]['gt_seg_map'], expected['a.jpg'])

    # all images: the damaged b.jpg loads, painted exactly as without the bad annotations
    dataset = COCOVOCDataset(data_root=root, ann_file=ANN_FILE,
                             data_prefix=dict(img_path='train2017'), min_area=0,
                             pipeline=[dict(type='mmmobileone.LoadCOCOVOCAnnotations')])
    assert len(dataset) == 2
    for i, name in enumerate(('a.jpg', 'b.jpg')):
        np.testing.assert_array_equal(dataset[i]['gt_seg_map'], expected[name])
    assert np.bincount(dataset[1]['gt_seg_map'].ravel(), minlength=256)[[0, 12, 18, 20]].tolist(
    ) == [2400 - 60, 0, 40, 20]


@pytest.mark.parametrize('segmentation,error', [
    ([], IndexError),  # pycocotools' frPyObjects reads the first polygon
    ([[1, 1, 5, 1]], TypeError),  # 4 numbers: taken for a box, then refused
    (dict(size=[10, 10], counts=[100]), IndexError)])  # a 10 x 10 mask for a 40 x 60 image
def test_the_painter_fails_on_what_is_dropped(segmentation, error):
    """Why the masks are dropped: without the check, training stops here, naming nothing."""
    from mmmobileone.integrations.mmseg.coco_voc import rasterize_instances
    with pytest.raises(error):
        rasterize_instances([dict(label=12, segmentation=segmentation, area=1.0)], 40, 60)
