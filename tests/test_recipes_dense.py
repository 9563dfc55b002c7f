"""The shipped DeepLabV3 and SSDLite configs, resolved, against the paper's recipes.

DeepLabV3 (MobileOne paper Sec. 4, App. F.1 -> MobileViT's recipe, ml-cvnets v0.1
``deeplabv3_mobilevit_small.yaml``): output stride 16, ASPP 256 channels at rates 6/12/18,
dropout 0.1, total batch 128, short side 256-1024 + crop 512 + flip, AdamW 1e-4 -> 1e-6 with 500
warmup iterations, head x10, EMA 5e-4, 50 epochs; VOC trains with COCO. SSDLite (App. E.1) and
DeepLabV3 start from mmpretrain's ImageNet weights, and training stops with one line when they
cannot be fetched. Nothing here touches the network.
"""
import glob
import json
import math
import os
import os.path as osp
import urllib.error

import pytest
import torch
import yaml
from conftest import ROOT
from mmengine.config import Config

from mmmobileone.engine.pretrained import (check_pretrained_checkpoints,
                                           iter_pretrained_checkpoints, probe_url,
                                           torch_hub_checkpoint_path)

ARCHS = ['s0', 's1', 's2', 's3', 's4']
STAGE4_CHANNELS = dict(s0=1024, s1=1280, s2=2048, s3=2048, s4=2048)
TOTAL_BATCH, GPUS = 128, 8
ADE20K_IMAGES = 20210
VOC_TRAINAUG = [('SegmentationClass', 'ImageSets/Segmentation/train.txt'),
                ('SegmentationClassAug', 'ImageSets/Segmentation/aug.txt')]
# Table 11b
PAPER_MIOU = dict(voc=dict(s0=73.7, s1=77.3, s2=77.9, s3=78.8, s4=80.1),
                  ade20k=dict(s0=33.1, s1=35.1, s2=35.7, s3=36.2, s4=38.2))


def config(name: str) -> Config:
    return Config.fromfile(osp.join(ROOT, 'configs', f'{name}.py'))


def header(name: str) -> str:
    """The leading comment block of a config file."""
    lines = []
    for line in open(osp.join(ROOT, 'configs', f'{name}.py')):
        if not line.startswith('#'):
            break
        lines.append(line[1:].strip())
    return ' '.join(lines)


@pytest.fixture(scope='module')
def mmpretrain_urls():
    """Checkpoint URLs of mmpretrain's released MobileOne S0-S4, from its installed metafile."""
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'mobileone',
                    'metafile.yml')
    with open(path) as f:
        models = yaml.safe_load(f)['Models']
    urls = {arch: model['Weights'] for model in models for arch in ARCHS
            if model['Name'].startswith(f'mobileone-{arch}_')}
    assert sorted(urls) == ARCHS, urls
    return urls


def train_datasets(cfg: Config):
    dataset = cfg.train_dataloader.dataset
    return dataset.datasets if dataset.type == 'ConcatDataset' else [dataset]


def assert_paper_model(cfg: Config, arch: str, num_classes: int, output_stride: int = 16):
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == 'mmmobileone.MobileOne' and backbone.arch == arch
    strides, dilations = dict([(16, ((2, 2, 2, 1), (1, 1, 1, 2))),
                               (8, ((2, 2, 1, 1), (1, 1, 2, 4)))])[output_stride]
    assert tuple(backbone.strides) == strides and tuple(backbone.dilations) == dilations
    assert tuple(backbone.out_indices) == (3, )
    assert backbone.get('use_se', True) is (arch != 's4')  # S4 without SE (Table 11b)
    assert backbone.norm_cfg.type == head.norm_cfg.type == 'SyncBN'
    assert head.type == 'ASPPHead' and head.in_index == 0
    channels, rates = dict([(16, (256, (1, 6, 12, 18))), (8, (512, (1, 12, 24, 36)))])[
        output_stride]
    assert (head.channels, tuple(head.dilations)) == (channels, rates)
    assert (head.in_channels, head.num_classes) == (STAGE4_CHANNELS[arch], num_classes)
    assert head.dropout_ratio == 0.1
    assert head.loss_decode.type == 'CrossEntropyLoss'
    assert cfg.model.get('auxiliary_head') is None


def assert_paper_optimization(cfg: Config):
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay, tuple(optimizer.betas)) == (
        'AdamW', 1e-4, 0.01, (0.9, 0.999))
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 10
    # the paper's batch: 16 per GPU x 8 GPUs = 128; --auto-scale-lr scales from 128
    assert cfg.train_dataloader.batch_size * GPUS == TOTAL_BATCH
    assert cfg.auto_scale_lr.base_batch_size == TOTAL_BATCH and not cfg.auto_scale_lr.enable
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch, warmup.begin, warmup.end) == (
        'LinearLR', 0.01, False, 0, 500)
    # cosine to 1e-4 x 0.01 = 1e-6
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min_ratio == 0.01
    assert optimizer.lr * cosine.eta_min_ratio == pytest.approx(1e-6)
    hooks = {hook.type: hook for hook in cfg.custom_hooks}
    assert hooks['EMAHook'].momentum == 5e-4 and 'mmmobileone.ReparamHook' in hooks


def assert_paper_augmentation(dataset, annotations: str):
    types = [t.type for t in dataset.pipeline]
    assert types == ['mmmobileone.LoadImageFromFile', annotations, 'RandomResize', 'RandomCrop',
                     'RandomFlip', 'PackSegInputs']  # no photometric distortion
    resize, crop, flip = dataset.pipeline[2:5]
    # mmseg's keep-ratio resize to (2048, 512) x r sets the short side to 512 r (for aspect
    # ratios up to 4): r in [0.5, 2] is cvnets' short side 256-1024
    assert resize.keep_ratio and tuple(resize.scale) == (2048, 512)
    assert tuple(512 * r for r in resize.ratio_range) == (256, 1024)
    assert tuple(crop.crop_size) == (512, 512) and crop.get('cat_max_ratio', 1.0) == 1.0
    assert flip.prob == 0.5


# --------------------------------------------------------------------------------------------
# DeepLabV3: the default configs are the paper's


def paper_config(name: str, arch: str, num_classes: int):
    """The resolved config ``name``, checked for the paper's model and optimization."""
    cfg = config(name)
    assert_paper_model(cfg, arch, num_classes=num_classes)
    assert_paper_optimization(cfg)
    return cfg


@pytest.mark.parametrize('arch', ARCHS)
def test_voc_configs_are_the_papers_recipe_with_coco(arch, mmpretrain_urls):
    name = f'deeplabv3_mobileone_{arch}_voc'
    cfg = paper_config(name, arch, num_classes=21)
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix, init.checkpoint) == (
        'Pretrained', 'backbone.', mmpretrain_urls[arch])
    assert cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.model.data_preprocessor.seg_pad_val == 255  # crop padding is ignored
    # VOC trainaug + COCO (VOC classes), evaluated on VOC val
    voc_train, voc_aug, coco = train_datasets(cfg)
    assert [(d.data_prefix.seg_map_path, d.ann_file) for d in (voc_train, voc_aug)] == \
        VOC_TRAINAUG
    assert voc_train.type == voc_aug.type == 'PascalVOCDataset'
    assert voc_train.data_root == voc_aug.data_root == 'data/VOCdevkit/VOC2012'
    assert coco.type == 'mmmobileone.COCOVOCDataset' and coco.data_root == 'data/coco'
    assert coco.ann_file == 'annotations/instances_train2017.json'
    assert coco.data_prefix.img_path == 'train2017'
    # as cvnets prepared COCO (EdgeNets' coco.py): any image with a VOC instance, crowds painted
    assert coco.min_area == 0 and coco.crowd_label is None
    for dataset in (voc_train, voc_aug):
        assert_paper_augmentation(dataset, 'LoadAnnotations')
    assert_paper_augmentation(coco, 'mmmobileone.LoadCOCOVOCAnnotations')
    assert cfg.val_dataloader.dataset.ann_file == 'ImageSets/Segmentation/val.txt'
    # 50 epochs over VOC + COCO: an epoch-based loop, since the COCO count depends on the json
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == 50
    assert cfg.train_dataloader.sampler.type == 'mmmobileone.SeededSampler'
    cosine = cfg.param_scheduler[1]
    assert (cosine.by_epoch, cosine.begin, cosine.end, cosine.convert_to_iter_based) == (
        True, 0, 50, True)
    assert f'Paper mIoU (Table 11b): {PAPER_MIOU["voc"][arch]}' in header(name)


@pytest.mark.parametrize('arch', ARCHS)
def test_ade20k_configs_are_the_papers_recipe(arch, mmpretrain_urls):
    name = f'deeplabv3_mobileone_{arch}_ade20k'
    cfg = paper_config(name, arch, num_classes=150)
    assert cfg.model.backbone.init_cfg.checkpoint == mmpretrain_urls[arch]
    (dataset, ) = train_datasets(cfg)
    assert dataset.type == 'ADE20KDataset' and dataset.data_root == 'data/ade/ADEChallengeData2016'
    assert dataset.pipeline[1].reduce_zero_label
    assert_paper_augmentation(dataset, 'LoadAnnotations')
    # 50 epochs of 20210 images at a total batch of 128
    iterations = math.ceil(50 * ADE20K_IMAGES / TOTAL_BATCH)
    assert iterations == 7895
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == iterations
    cosine = cfg.param_scheduler[1]
    assert (cosine.by_epoch, cosine.begin, cosine.end) == (False, 500, iterations)
    interval = math.ceil(5 * ADE20K_IMAGES / TOTAL_BATCH)  # 5 epochs
    assert cfg.train_cfg.val_interval == cfg.default_hooks.checkpoint.interval == interval == 790
    assert f'Paper mIoU (Table 11b): {PAPER_MIOU["ade20k"][arch]}' in header(name)


def _without(cfg: Config, *paths):
    """``cfg`` as a dict, with the dotted ``paths`` removed."""
    data = cfg.to_dict()
    data.pop('filename', None)
    for path in paths:
        *parents, leaf = path.split('.')
        node = data
        for key in parents:
            node = node[key]
        node.pop(leaf)
    return data


@pytest.mark.slow
@pytest.mark.parametrize('dataset', ['voc', 'ade20k'])
@pytest.mark.parametrize('arch', ARCHS)
def test_output_stride_8_siblings_change_only_backbone_strides_and_head(arch, dataset):
    name = f'deeplabv3_mobileone_{arch}_os8_{dataset}'
    os8, os16 = config(name), config(f'deeplabv3_mobileone_{arch}_{dataset}')
    assert_paper_model(os8, arch, num_classes=dict(voc=21, ade20k=150)[dataset], output_stride=8)
    changed = ('model.backbone.strides', 'model.backbone.dilations',
               'model.decode_head.channels', 'model.decode_head.dilations')
    assert _without(os8, *changed) == _without(os16, *changed)
    # its header claims no paper number of its own
    assert 'No paper number belongs to this config' in header(name)
    assert 'Paper mIoU' not in header(name)


@pytest.mark.slow
@pytest.mark.parametrize('arch', ARCHS)
def test_voc_only_variants_drop_coco_and_claim_no_paper_number(arch):
    name = f'deeplabv3_mobileone_{arch}_voconly'
    cfg, paper = config(name), config(f'deeplabv3_mobileone_{arch}_voc')
    assert [(d.data_prefix.seg_map_path, d.ann_file) for d in train_datasets(cfg)] == \
        VOC_TRAINAUG
    assert _without(cfg, 'train_dataloader.dataset.datasets') == _without(
        paper, 'train_dataloader.dataset.datasets')
    text = header(name)
    assert 'not the paper' in text and 'Paper mIoU' not in text
    assert str(PAPER_MIOU['voc'][arch]) not in text


@pytest.mark.slow
def test_every_voc_config_trains_with_coco():
    names = [osp.splitext(osp.basename(p))[0]
             for p in sorted(glob.glob(osp.join(ROOT, 'configs', 'deeplabv3_*voc*.py')))]
    assert len(names) == 16  # s0-s4 x (voc, os8_voc, voconly) + the s2_voc_coco alias
    for name in names:
        types = [d.type for d in train_datasets(config(name))]
        if 'voconly' in name:
            assert types == ['PascalVOCDataset'] * 2, name
        else:
            assert types == ['PascalVOCDataset'] * 2 + ['mmmobileone.COCOVOCDataset'], name


def test_voc_coco_alias_is_the_s2_voc_config():
    alias, s2 = config('deeplabv3_mobileone_s2_voc_coco'), config('deeplabv3_mobileone_s2_voc')
    assert _without(alias) == _without(s2)
    assert 'Alias' in header('deeplabv3_mobileone_s2_voc_coco')


def _learning_rates(cfg: Config, iterations, epoch_length=None):
    """Backbone and head lr at the given iterations, from the config's own schedulers."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    model.decode_head = torch.nn.Linear(2, 2)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    default = dict(optimizer=wrapper)
    if epoch_length is not None:
        default['epoch_length'] = epoch_length
    schedulers = [PARAM_SCHEDULERS.build(dict(s), default_args=default)
                  for s in cfg.param_scheduler]
    lrs, wanted = {}, set(iterations)
    for it in range(max(iterations) + 1):
        if it in wanted:
            groups = sorted(group['lr'] for group in wrapper.optimizer.param_groups)
            lrs[it] = (groups[0], groups[-1])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def test_ade20k_learning_rate_schedule():
    cfg = config('deeplabv3_mobileone_s0_ade20k')
    end = cfg.train_cfg.max_iters - 1
    middle = 500 + (end + 1 - 500) // 2
    lrs = _learning_rates(cfg, [0, 250, 500, middle, end])
    assert lrs[0][0] == pytest.approx(1e-6)
    assert lrs[250][0] == pytest.approx(1e-4 * (0.01 + 0.99 * 250 / 499))
    assert lrs[500][0] == pytest.approx(1e-4)
    assert lrs[middle][0] == pytest.approx((1e-4 + 1e-6) / 2, rel=1e-3)
    assert lrs[end][0] == pytest.approx(1e-6, rel=1e-2)
    for backbone, head in lrs.values():
        assert head == pytest.approx(10 * backbone)


def test_voc_coco_learning_rate_schedule_over_50_epochs():
    """Epoch-based: the cosine spans 50 x (iterations per epoch), whatever COCO contributes."""
    cfg = config('deeplabv3_mobileone_s0_voc')
    # e.g. 10582 VOC + 80000 COCO images: floor(90582 / 128) = 707 iterations per epoch
    epoch_length = (10582 + 80000) // TOTAL_BATCH
    total = 50 * epoch_length
    lrs = _learning_rates(cfg, [0, 500, total // 2, total - 1], epoch_length=epoch_length)
    assert lrs[0][0] == pytest.approx(1e-6)
    # the warmup ends at 1e-4 times the cosine's factor at iteration 500 (> 0.999)
    assert lrs[500][0] == pytest.approx(1e-4 * (1 + math.cos(math.pi * 500 / total)) / 2 +
                                        1e-6 * (1 - math.cos(math.pi * 500 / total)) / 2,
                                        rel=1e-3)
    assert lrs[total // 2][0] == pytest.approx((1e-4 + 1e-6) / 2, rel=1e-3)
    assert lrs[total - 1][0] == pytest.approx(1e-6, rel=1e-2)
    for backbone, head in lrs.values():
        assert head == pytest.approx(10 * backbone)


# --------------------------------------------------------------------------------------------
# SSDLite: ImageNet weights by default, the quickstart offline


@pytest.mark.parametrize('arch', ARCHS)
def test_ssdlite_configs_start_from_mmpretrain_weights(arch, mmpretrain_urls):
    cfg = config(f'ssdlite_mobileone_{arch}_coco')
    assert cfg.model.backbone.arch == arch
    init = cfg.model.backbone.init_cfg
    assert (init.type, init.prefix, init.checkpoint) == (
        'Pretrained', 'backbone.', mmpretrain_urls[arch])
    assert list(iter_pretrained_checkpoints(cfg.model)) == [
        ('model.backbone.init_cfg', mmpretrain_urls[arch])]


def test_quickstart_config_needs_no_download():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'quickstart',
                                   'ssdlite_mobileone_mu1_synthetic.py'))
    assert cfg.model.backbone.arch == 'mu1' and cfg.model.backbone.init_cfg is None
    assert list(iter_pretrained_checkpoints(cfg.model)) == []
    check_pretrained_checkpoints(cfg, opener=_no_network)  # nothing to fetch


def test_one_weights_table_serves_every_config():
    """The URLs live in configs/_base_/mobileone_pretrained.py only."""
    table = osp.join(ROOT, 'configs', '_base_', 'mobileone_pretrained.py')
    for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True):
        if path != table:
            assert 'download.openmmlab.com' not in open(path).read(), path


# --------------------------------------------------------------------------------------------
# offline: a clear one-line error before training starts


def _no_network(request, timeout):
    raise AssertionError(f'network touched: {request.full_url}')


def _offline(request, timeout):
    raise urllib.error.URLError(OSError(101, 'Network is unreachable'))


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch hub (mmengine's download cache) pointed at an empty folder."""
    import torch.hub
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    return tmp_path / 'hub'


def test_offline_pretrained_weights_give_one_line_with_the_way_out(empty_hub):
    cfg = config('ssdlite_mobileone_s2_coco')
    url = cfg.model.backbone.init_cfg.checkpoint
    with pytest.raises(FileNotFoundError) as error:
        check_pretrained_checkpoints(cfg, opener=_offline)
    message = str(error.value)
    assert '\n' not in message
    assert url in message and 'Network is unreachable' in message
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message
    assert 'model.backbone.init_cfg=None' in message


def test_cached_download_needs_no_network(empty_hub):
    cfg = config('deeplabv3_mobileone_s1_ade20k')
    url = cfg.model.backbone.init_cfg.checkpoint
    cached = torch_hub_checkpoint_path(url)
    assert cached == str(empty_hub / 'checkpoints' / osp.basename(url))
    os.makedirs(osp.dirname(cached))
    open(cached, 'wb').close()
    check_pretrained_checkpoints(cfg, opener=_no_network)


def test_closed_local_port_is_an_unreachable_server(empty_hub):
    """A real request, to a closed port on this machine: refused at once."""
    cfg = config('ssdlite_mobileone_s0_coco')
    cfg.model.backbone.init_cfg.checkpoint = 'http://127.0.0.1:9/mobileone-s0.pth'
    with pytest.raises(FileNotFoundError, match=r'http://127\.0\.0\.1:9/mobileone-s0\.pth .*'
                       r'(Connection ?Refused|refused)'):
        check_pretrained_checkpoints(cfg, timeout=2)


def test_missing_local_checkpoint_and_reachable_server(tmp_path):
    cfg = config('ssdlite_mobileone_s0_coco')
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match=r"missing\.pth'.*checkpoint=PATH"):
        check_pretrained_checkpoints(cfg, opener=_no_network)
    (tmp_path / 'missing.pth').write_bytes(b'')
    check_pretrained_checkpoints(cfg, opener=_no_network)


class _Response:

    def __init__(self, status):
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_probe_asks_with_head_then_a_one_byte_get():
    seen = []

    def head_refused(request, timeout):
        seen.append((request.get_method(), request.get_header('Range'), timeout))
        if request.get_method() == 'HEAD':
            raise urllib.error.HTTPError(request.full_url, 405, 'Method Not Allowed', {}, None)
        return _Response(206)

    assert probe_url('https://example.invalid/w.pth', timeout=3, opener=head_refused) is None
    assert seen == [('HEAD', None, 3), ('GET', 'bytes=0-0', 3)]

    def not_found(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 404, 'Not Found', {}, None)

    assert probe_url('https://example.invalid/w.pth', opener=not_found) == 'HTTP 404'


def test_train_tool_stops_before_the_runner_when_offline(empty_hub, tmp_path, monkeypatch):
    """tools/train.py checks the weights after the data, before building anything."""
    import urllib.request

    from tools import train
    monkeypatch.setattr(urllib.request, 'urlopen', _offline)
    root = str(tmp_path / 'coco')  # what the data checks look for: a valid one-image COCO
    for folder in ('annotations', 'train2017', 'val2017'):
        os.makedirs(osp.join(root, folder))
    for split in ('train', 'val'):
        open(osp.join(root, f'{split}2017', 'a.jpg'), 'wb').write(b'\xff\xd8 not decoded')
        with open(osp.join(root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(dict(images=[dict(id=1, file_name='a.jpg', width=8, height=8)],
                           annotations=[], categories=[dict(id=1, name='person')]), f)
    ann = osp.join(root, 'annotations', 'instances_val2017.json')
    config_file = osp.join(ROOT, 'configs', 'ssdlite_mobileone_s2_coco.py')
    options = [f'{split}_dataloader.dataset.data_root={root}/' for split in
               ('train', 'val', 'test')] + [f'val_evaluator.ann_file={ann}',
                                            f'test_evaluator.ann_file={ann}']
    argv = [config_file, '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options]
    with pytest.raises(FileNotFoundError, match='mobileone-s2_8xb32_in1k.*checkpoint=PATH'):
        train.prepare(argv)
    assert train.main(argv) == 1
    assert not osp.exists(tmp_path / 'work')
    # the documented way out: random weights
    cfg = train.prepare(argv + ['model.backbone.init_cfg=None'])
    assert cfg.model.backbone.init_cfg is None
