"""SSDLite-MobileOne: the configs, the SSDHead fix, and training / testing through the tools.

The module fixture trains ``configs/ssdlite_mobileone_s2_coco.py`` for one epoch on a tiny
synthetic COCO dataset with ``tools/train.py``'s entry point, overriding only the data root,
the number of epochs and the batch size.
"""
import os
import os.path as osp
import pickle

import pytest
import torch
from conftest import ROOT, randomize_bn
from mmdet.models.dense_heads import SSDHead
from mmdet.structures.bbox import bbox_overlaps
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from mmmobileone import MobileOne
from mmmobileone.datasets.synthetic import generate_coco
from mmmobileone.integrations.mmdet import FixedSSDHead
from tools.test import test as run_test
from tools.train import merge_args as merge_train_args
from tools.train import parse_args
from tools.train import train as run_train

ARCHS = ('s0', 's1', 's2', 's3', 's4')
CONFIG = osp.join(ROOT, 'configs', 'ssdlite_mobileone_{}_coco.py')
S2 = CONFIG.format('s2')


def _head_kwargs():
    return dict(
        num_classes=3,
        in_channels=(8, 16),
        use_depthwise=True,
        norm_cfg=dict(type='BN'),
        anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False, strides=[16, 32],
                              ratios=[[2], [2]], min_sizes=[16, 32], max_sizes=[32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        train_cfg=ConfigDict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                          min_pos_iou=0.0, ignore_iof_thr=-1, gt_max_assign_all=False),
            sampler=dict(type='PseudoSampler'), smoothl1_beta=1.0, allowed_border=-1,
            pos_weight=-1, neg_pos_ratio=3, debug=False),
        test_cfg=ConfigDict(
            nms_pre=1000, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
            score_thr=0.0, max_per_img=50))


def test_upstream_ssdhead_cannot_predict_ssdlitehead_can():
    init_default_scope('mmdet')
    torch.manual_seed(0)
    upstream = SSDHead(**_head_kwargs()).eval()
    ours = FixedSSDHead(**_head_kwargs()).eval()
    ours.load_state_dict(upstream.state_dict(), strict=True)  # same parameters and buffers
    feats = (torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2))
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64), ori_shape=(64, 64),
                  scale_factor=(1.0, 1.0))]
    cls_scores, bbox_preds = upstream(feats)

    with pytest.raises(AttributeError, match='loss_cls'):
        upstream.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, rescale=False)
    result = ours.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas,
                                  rescale=False)[0]

    # the best detection is the anchor with the highest foreground softmax score, decoded
    logits = torch.cat([c[0].permute(1, 2, 0).reshape(-1, 4) for c in cls_scores])
    deltas = torch.cat([b[0].permute(1, 2, 0).reshape(-1, 4) for b in bbox_preds])
    anchors = torch.cat(ours.prior_generator.grid_priors([(4, 4), (2, 2)], device='cpu'))
    probs = logits.softmax(-1)[:, :3]
    best_anchor, best_label = divmod(int(probs.argmax()), 3)
    best_box = ours.bbox_coder.decode(anchors[best_anchor:best_anchor + 1],
                                      deltas[best_anchor:best_anchor + 1], max_shape=(64, 64))
    top = int(result.scores.argmax())
    assert result.scores[top].item() == pytest.approx(probs.max().item(), rel=1e-6)
    assert int(result.labels[top]) == best_label
    torch.testing.assert_close(result.bboxes[top:top + 1], best_box, rtol=0, atol=1e-4)

    # training is unchanged: the same losses as the upstream head
    gt = [InstanceData(bboxes=torch.tensor([[8.0, 8.0, 40.0, 36.0]]), labels=torch.tensor([1]))]
    loss_up = upstream.loss_by_feat(cls_scores, bbox_preds, gt, metas)
    loss_ours = ours.loss_by_feat(cls_scores, bbox_preds, gt, metas)
    for key in ('loss_cls', 'loss_bbox'):
        assert sum(loss_ours[key]).item() == pytest.approx(sum(loss_up[key]).item(), rel=1e-6)
        assert sum(loss_ours[key]).item() > 0


def test_s2_config_is_the_papers_recipe():
    cfg = Config.fromfile(S2)
    assert 'mmmobileone.integrations.mmdet' in cfg.custom_imports.imports
    assert cfg.default_scope == 'mmdet'
    model = cfg.model
    assert (model.backbone.type, model.backbone.arch) == ('mmmobileone.MobileOne', 's2')
    assert tuple(model.backbone.out_indices) == (2, 3)
    assert model.neck.type == 'SSDNeck' and model.neck.use_depthwise
    assert model.bbox_head.type == 'mmmobileone.FixedSSDHead' and model.bbox_head.use_depthwise
    anchors = model.bbox_head.anchor_generator
    assert anchors.type == 'SSDAnchorGenerator'
    assert list(anchors.strides) == [16, 32, 64, 107, 160, 320]
    train_types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    # mmdet's SSDLite pipeline, images read by mmmobileone's checked loader (declared here)
    assert train_types == ['mmmobileone.LoadImageFromFile', 'LoadAnnotations', 'Expand',
                           'MinIoURandomCrop', 'Resize', 'RandomFlip', 'PhotoMetricDistortion',
                           'PackDetInputs']
    for pipeline in (cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline):
        resize = [t for t in pipeline if t['type'] == 'Resize'][0]
        assert tuple(resize['scale']) == (320, 320)
    # schedule: 200 epochs, SGD 0.05 / 0.9 / 1e-4, batch 8 x 24 = 192, warmup 4500 its, cosine
    assert cfg.train_cfg.max_epochs == 200
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD', 0.05, 0.9, 1e-4)
    assert cfg.train_dataloader.batch_size == 24 and cfg.auto_scale_lr.base_batch_size == 192
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch, warmup.end) == (
        'LinearLR', 0.001, False, 4500)
    assert (cosine.type, cosine.by_epoch, cosine.T_max, cosine.end) == (
        'CosineAnnealingLR', True, 200, 200)
    # one COCO pass per epoch, through mmdet's dataset and metric as checked drop-ins
    assert cfg.train_dataloader.dataset.type == 'mmmobileone.CocoDataset'
    assert cfg.val_dataloader.dataset.type == 'mmmobileone.CocoDataset'
    assert cfg.val_evaluator.type == 'mmmobileone.CocoMetric'
    assert cfg.val_evaluator.metric == 'bbox'
    assert 'mmmobileone.ReparamHook' in [h['type'] for h in cfg.custom_hooks]
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.val_evaluator.ann_file == 'data/coco/annotations/instances_val2017.json'


@pytest.mark.parametrize('arch', ARCHS)
def test_configs_wire_stage_3_and_4_into_the_neck(arch):
    cfg = Config.fromfile(CONFIG.format(arch))
    assert cfg.model.backbone.arch == arch
    channels = tuple(MobileOne(arch).stage_channels[2:])
    assert tuple(cfg.model.neck.in_channels) == channels
    assert tuple(cfg.model.neck.out_channels) == channels + (512, 256, 256, 128)
    assert tuple(cfg.model.bbox_head.in_channels) == tuple(cfg.model.neck.out_channels)


def test_s0_detector_feature_maps_match_the_320px_anchors():
    init_default_scope('mmdet')
    cfg = Config.fromfile(CONFIG.format('s0'))
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        feats = model.neck(model.backbone(torch.rand(1, 3, 320, 320)))
        cls_scores, bbox_preds = model.bbox_head(feats)
    sizes = [f.shape[-1] for f in feats]
    assert sizes == [20, 10, 5, 3, 2, 1]
    # each level's stride times its size covers the 320 px input, as the anchors assume
    strides = cfg.model.bbox_head.anchor_generator.strides
    assert [round(s * n) for s, n in zip(strides, sizes)] == [320, 320, 320, 321, 320, 320]
    priors = model.bbox_head.num_base_priors
    assert [c.shape[1] for c in cls_scores] == [p * 81 for p in priors]
    assert [b.shape[1] for b in bbox_preds] == [p * 4 for p in priors]


def test_pretrained_backbone_loads_through_cfg_options(tmp_path):
    """The documented command: a classification checkpoint initializes the backbone."""
    source = randomize_bn(MobileOne('s0'), seed=1)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['head.fc.weight'] = torch.randn(1000, 1024)
    checkpoint = str(tmp_path / 'mobileone_s0_imagenet.pth')
    torch.save(dict(state_dict=state, meta=dict()), checkpoint)
    args = parse_args([
        CONFIG.format('s0'), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={checkpoint}'  # the config's Pretrained init
    ])
    cfg = merge_train_args(Config.fromfile(args.config), args)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key


def test_missing_coco_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"'data/coco/'.*data_root=PATH"):
        run_train([S2, '--work-dir', str(tmp_path / 'work')])


def _data_options(root: str):
    ann = osp.join(root, 'annotations', 'instances_val2017.json')
    return [f'{split}_dataloader.dataset.data_root={root}/'
            for split in ('train', 'val', 'test')] + [
                f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


@pytest.fixture(scope='module')
def trained_s2(tmp_path_factory):
    root = tmp_path_factory.mktemp('ssdlite')
    data_root = str(root / 'coco')
    generate_coco(data_root, num_train=4, num_val=3, image_size=(160, 128))
    work_dir = str(root / 'work')
    runner = run_train([
        S2, '--work-dir', work_dir, '--cfg-options', *_data_options(data_root),
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=2', 'val_dataloader.batch_size=3',
        'model.backbone.init_cfg=None'  # offline: no ImageNet weights
    ])
    return dict(root=root, data_root=data_root, work_dir=work_dir, runner=runner)


def _predictions(path: str):
    with open(path, 'rb') as f:
        return {r['img_id']: r['pred_instances'] for r in pickle.load(f)}


@pytest.mark.slow
def test_s2_trains_and_fused_test_equals_unfused(trained_s2, tmp_path):
    runner, work_dir = trained_s2['runner'], trained_s2['work_dir']
    assert runner.epoch == 1 and runner.iter == 2
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint) and osp.isfile(osp.join(work_dir, 'deploy.pth'))
    # a score threshold of 0 keeps every detection of the barely trained model
    common = ['--cfg-options', *_data_options(trained_s2['data_root']),
              'model.test_cfg.score_thr=0.0', 'test_dataloader.batch_size=3']
    runs = {}
    for name, extra in (('fused', []), ('unfused', ['--no-fuse'])):
        out = str(tmp_path / f'{name}.pkl')
        metrics = run_test([S2, checkpoint, '--work-dir', str(tmp_path / name), '--out', out,
                            *extra, *common])
        runs[name] = (metrics, _predictions(out))
    deployed = run_test([
        S2, osp.join(work_dir, 'deploy.pth'), '--work-dir', str(tmp_path / 'deploy'), *common,
        'model.backbone.deploy=True'
    ])
    (fused, fused_pred), (unfused, unfused_pred) = runs['fused'], runs['unfused']
    assert 'coco/bbox_mAP' in fused and 'coco/bbox_mAP_50' in fused
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
        assert fused[key] == pytest.approx(unfused[key], abs=1e-3)
        assert deployed[key] == pytest.approx(fused[key], abs=1e-3)
    assert sorted(fused_pred) == sorted(unfused_pred) and len(fused_pred) == 3
    for img_id, pred in fused_pred.items():
        ref = unfused_pred[img_id]
        assert len(pred['scores']) > 0
        # each fused detection has an unfused twin: same label, same box, same score
        iou = bbox_overlaps(pred['bboxes'], ref['bboxes'])
        same_label = pred['labels'][:, None] == ref['labels'][None, :]
        best_iou, match = (iou * same_label).max(dim=1)
        matched = best_iou > 0.999
        assert matched.float().mean().item() >= 0.98
        torch.testing.assert_close(pred['scores'][matched], ref['scores'][match[matched]],
                                   rtol=1e-4, atol=1e-6)


#: mAP@0.5 that the suite's quickstart run (tests/conftest.py: 200 training images) must reach;
#: measured under both CPU paths (see docs/detection.md for the full-size run's range).
QUICKSTART_TEST_MIN_MAP50 = 0.5


@pytest.mark.slow
@pytest.mark.isa
def test_quickstart_learns_end_to_end(trained_quickstart):
    """tools/quickstart.py: data, training, test, fused test and demo, and the detector learns."""
    summary, data_root = trained_quickstart['summary'], trained_quickstart['data_root']
    assert osp.isfile(osp.join(data_root, 'annotations', 'instances_train2017.json'))
    assert osp.isfile(summary['checkpoint']) and osp.isfile(summary['deploy'])
    assert summary['bbox_mAP_50'] >= QUICKSTART_TEST_MIN_MAP50, summary
    # the fused deploy.pth scores exactly what the (fused-tested) training checkpoint scores
    assert summary['deploy_bbox_mAP_50'] == pytest.approx(summary['bbox_mAP_50'], abs=1e-3)
    assert [osp.basename(p) for p in summary['demo']] == sorted(
        os.listdir(osp.join(data_root, 'val2017')))[:2]
    assert all(osp.isfile(p) for p in summary['demo'])
