"""tools/image_demo.py and mmmobileone.apis: pictures of predictions, bad inputs skipped."""
import importlib.util
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, randomize_bn
from helpers import cls_config, seg_config, write_config
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mmmobileone import reparameterize_model
from mmmobileone.apis import build_inferencer, init_model, read_image, run_demo
from mmmobileone.datasets.synthetic import generate_coco

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'ssdlite_mobileone_mu1_synthetic.py')
CLASSES = ('umbrella', 'sports ball', 'pizza', 'book')


def _load_tool():
    spec = importlib.util.spec_from_file_location('image_demo_tool',
                                                  osp.join(ROOT, 'tools', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save_checkpoint(config: str, path: str, classes, scope: str, fused: bool = False) -> None:
    """A randomly initialized model of ``config`` (random BN statistics) as a checkpoint."""
    init_default_scope(scope)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    randomize_bn(model, seed=3)
    if fused:
        model = reparameterize_model(model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=classes))),
               path)


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    generate_coco(str(root / 'coco'), num_train=1, num_val=3, image_size=(160, 128),
                  classes=CLASSES)
    inputs = root / 'inputs'
    shutil.copytree(root / 'coco' / 'val2017', inputs)
    images = sorted(str(inputs / name) for name in os.listdir(inputs))
    (inputs / 'corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0' + bytes(range(256)) * 4)
    (inputs / 'notes.txt').write_text('not an image\n')
    checkpoint, deploy = str(root / 'train.pth'), str(root / 'deploy.pth')
    _save_checkpoint(QUICKSTART, checkpoint, CLASSES, 'mmdet')
    _save_checkpoint(QUICKSTART, deploy, CLASSES, 'mmdet', fused=True)
    return dict(root=root, inputs=str(inputs), images=images, checkpoint=checkpoint,
                deploy=deploy)


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.mark.slow
def test_detection_demo_draws_boxes_and_skips_bad_files(det, tmp_path):
    drawn = run_demo([det['inputs']], QUICKSTART, det['checkpoint'], str(tmp_path / 'drawn'),
                     score_thr=0.1)
    plain = run_demo([det['inputs']], QUICKSTART, det['checkpoint'], str(tmp_path / 'plain'),
                     score_thr=1.01)  # no box reaches this score: the picture is the input
    for report, out in ((drawn, tmp_path / 'drawn'), (plain, tmp_path / 'plain')):
        # one picture per readable image, written by mmdet's DetInferencer into OUT/vis/
        assert report.written == [str(out / 'vis' / osp.basename(p)) for p in det['images']]
        assert sorted(os.listdir(out / 'vis')) == sorted(osp.basename(p) for p in det['images'])
        assert sorted(osp.basename(p) for p, _ in report.skipped) == ['corrupt.jpg', 'notes.txt']
        assert all('cannot be decoded' in reason for _, reason in report.skipped)
    for image, with_boxes, without in zip(det['images'], drawn.written, plain.written):
        original = read_image(image)
        assert _mean_abs_diff(read_image(without), original) < 2.0  # JPEG re-encoding only
        assert _mean_abs_diff(read_image(with_boxes), original) > 5.0


def test_fused_unfused_and_deployed_checkpoint_predict_the_same(det):
    fused = init_model(QUICKSTART, det['checkpoint'])
    unfused = init_model(QUICKSTART, det['checkpoint'], fuse=False)
    deployed = init_model(QUICKSTART, det['deploy'])
    assert fused.backbone.deploy and deployed.backbone.deploy and not unfused.backbone.deploy
    assert fused.dataset_meta['classes'] == CLASSES

    def predict(model):  # through mmdet's DetInferencer: its pipeline, our model
        inferencer = build_inferencer(model)
        assert inferencer.model is model
        result = inferencer(det['images'][0], return_datasamples=True)
        return result['predictions'][0].pred_instances

    reference = predict(unfused)
    assert len(reference.scores) > 0
    for model in (fused, deployed):
        result = predict(model)
        torch.testing.assert_close(result.scores, reference.scores, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(result.bboxes, reference.bboxes, rtol=1e-4, atol=1e-3)
        assert torch.equal(result.labels, reference.labels)


@pytest.mark.slow
def test_cli_takes_globs_reports_missing_inputs_and_fails_without_images(det, tmp_path, caplog):
    tool = _load_tool()
    out = tmp_path / 'out'
    pattern = osp.join(det['inputs'], '*.jpg')
    status = tool.main([pattern, str(tmp_path / 'missing'), QUICKSTART, det['checkpoint'],
                        '--out-dir', str(out), '--score-thr', '0.1', '--no-fuse'])
    assert status == 0
    assert os.listdir(out) == ['vis']
    assert sorted(os.listdir(out / 'vis')) == sorted(osp.basename(p) for p in det['images'])
    messages = ' '.join(r.getMessage() for r in caplog.records)
    assert 'corrupt.jpg' in messages and 'missing' in messages
    status = tool.main([osp.join(det['inputs'], 'notes.txt'), QUICKSTART, det['checkpoint'],
                        '--out-dir', str(tmp_path / 'none')])
    assert status == 1
    assert 'no readable image' in caplog.records[-1].getMessage()


def _coloured_image(path: str) -> str:
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (40, 40, 200)
    image[10:40, 36:60] = (40, 200, 40)
    cv2.imwrite(path, image)
    return path


def test_segmentation_demo_overlays_masks(tmp_path):
    config = write_config(seg_config(str(tmp_path / 'data'), str(tmp_path / 'work')),
                          str(tmp_path / 'seg.py'))
    checkpoint = str(tmp_path / 'seg.pth')  # class names only: mmseg completes the palette
    _save_checkpoint(config, checkpoint, ('background', 'red', 'green'), 'mmseg')
    image = _coloured_image(str(tmp_path / 'scene.png'))
    overlay = run_demo([image], config, checkpoint, str(tmp_path / 'a'), opacity=0.6)
    clear = run_demo([image], config, checkpoint, str(tmp_path / 'b'), opacity=0.0)
    assert overlay.written == [str(tmp_path / 'a' / 'vis' / 'scene.png')]
    assert os.listdir(tmp_path / 'a') == ['vis']  # MMSegInferencer wrote no label maps
    original = read_image(image)
    assert _mean_abs_diff(read_image(clear.written[0]), original) < 1.0
    assert _mean_abs_diff(read_image(overlay.written[0]), original) > 10.0
    # the overlay is the inferencer's: its prediction's palette colours blended at 0.6
    model = init_model(config, checkpoint)
    inferencer = build_inferencer(model)
    assert len(model.dataset_meta['palette']) == 3
    labels = inferencer(image, return_datasamples=True).pred_sem_seg.data[0].numpy()
    palette = np.array(model.dataset_meta['palette'], np.float32)[labels]  # RGB
    expected = 0.4 * original[..., ::-1] + 0.6 * palette
    picture = read_image(overlay.written[0])[..., ::-1].astype(np.float32)
    assert (np.abs(picture - expected).max(-1) < 3).mean() > 0.8


def test_classification_demo_writes_topk_labels(tmp_path):
    config = write_config(cls_config(str(tmp_path / 'data'), str(tmp_path / 'work')),
                          str(tmp_path / 'cls.py'))
    checkpoint = str(tmp_path / 'cls.pth')
    _save_checkpoint(config, checkpoint, ('cat', 'dog', 'fox'), 'mmpretrain')
    image = _coloured_image(str(tmp_path / 'pet.jpg'))
    top1, top2 = (run_demo([image], config, checkpoint, str(tmp_path / f'top{k}'), topk=k)
                  for k in (1, 2))
    assert top2.written == [str(tmp_path / 'top2' / 'vis' / 'pet.png')]  # mmpretrain's name
    pictures = [read_image(r.written[0]) for r in (top1, top2)]
    assert pictures[0].shape[:2] == (224, 298)  # short side enlarged to 224: legible labels
    resized = cv2.resize(read_image(image), (298, 224))
    assert _mean_abs_diff(pictures[0], resized) > 1.0  # a label is drawn
    assert _mean_abs_diff(pictures[1], pictures[0]) > 0.2  # and a second one with topk=2
    model = init_model(config, checkpoint)
    result = build_inferencer(model)(image)[0]
    assert result['pred_scores'].sum() == pytest.approx(1.0, abs=1e-5)
    assert result['pred_class'] == ('cat', 'dog', 'fox')[result['pred_scores'].argmax()]


def test_same_file_names_get_one_picture_each_and_options_are_checked(det, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    name = osp.basename(det['images'][0])
    cv2.imwrite(str(other / name), cv2.flip(read_image(det['images'][0]), 1))
    out = tmp_path / 'out'
    report = run_demo([det['images'][0], str(other)], QUICKSTART, det['checkpoint'], str(out),
                      score_thr=0.1)
    assert report.written == [str(out / 'vis' / name), str(out / '1' / 'vis' / name)]
    assert _mean_abs_diff(*(read_image(p) for p in report.written)) > 5.0
    for options, bad in ((dict(topk=0), 'topk'), (dict(opacity=1.5), 'opacity')):
        with pytest.raises(ValueError, match=bad):
            run_demo([det['images'][0]], QUICKSTART, det['checkpoint'], str(out), **options)
