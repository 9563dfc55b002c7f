"""The model zoo: metafiles, names, generated README tables, and downloads from a local server."""
import functools
import hashlib
import http.server
import logging
import os
import os.path as osp
import shutil
import threading

import pytest
import torch
import yaml
from conftest import ROOT, randomize_bn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmmobileone.analysis.zoo import (config_coverage, count_mismatches, dump_metafile,
                                      pretrain_mismatches, readme_paths, render_readme)
from mmmobileone.apis import init_model, model_zoo
from mmmobileone.errors import CheckpointError, ConfigError, MissingPathError
from mmmobileone.fileio import load_checkpoint

#: One model per family and input size: counting all ~45 configs takes minutes on 2 cores
#: (``tools/analysis/zoo_tables.py`` checks all of them).
COUNTED = ('mobileone-mu0_imagenet', 'ssdlite_mobileone-s0_coco', 'deeplabv3_mobileone-s0_ade20k',
           'ssdlite_mobileone-mu1_synthetic')
SMALL_CLASSES = ('umbrella', 'sports ball', 'pizza', 'book')


def test_every_shipped_config_is_listed_exactly_once():
    coverage = config_coverage(ROOT)
    assert coverage == dict(unlisted=[], duplicated=[], missing=[])
    index = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
    configs = [m['Config'] for f in index['Import']
               for m in yaml.safe_load(open(osp.join(ROOT, f)))['Models']]
    assert len(configs) == len(set(configs)) == len(model_zoo.load_zoo(ROOT))


def test_names_and_aliases_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = osp.join(ROOT, 'configs', 'ssdlite_mobileone_s2_coco.py')
    for name in ('ssdlite_mobileone-s2_coco', 'SSDLite_MobileOne-S2_COCO',
                 'ssdlite_mobileone_s2_coco', 'ssdlite_mobileone_s2_coco.py',
                 'configs/ssdlite_mobileone_s2_coco.py'):
        assert model_zoo.resolve_config(name) == expected, name
    assert model_zoo.resolve_config('quickstart/ssdlite_mobileone_mu1_synthetic.py') == osp.join(
        ROOT, 'configs', 'quickstart', 'ssdlite_mobileone_mu1_synthetic.py')
    assert model_zoo.zoo_root() == ROOT  # a checkout / editable install reads its own files
    for model in model_zoo.load_zoo():
        assert osp.isfile(model.config_path)
        assert model.name == osp.basename(model.config)[:-3].replace('mobileone_', 'mobileone-', 1)
        assert model.aliases == (osp.basename(model.config)[:-3], )


def test_unknown_names_give_one_line_with_close_matches():
    with pytest.raises(ConfigError) as error:
        model_zoo.resolve_config('ssdlite_mobileone-s9_coco')
    message = str(error.value)
    assert '\n' not in message and "'ssdlite_mobileone-s9_coco'" in message
    assert 'ssdlite_mobileone-s2_coco' in message.split('close matches:')[1]
    with pytest.raises(MissingPathError, match='deeplabv3_mobileone_s0_voc.py'):
        model_zoo.resolve_config('deeplabv3_mobileone_s0_vco.py')


def test_results_name_their_source_and_weights_are_mmpretrains():
    pretrained = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'mobileone_pretrained.py')).mobileone_pretrained
    mmpretrain_meta = osp.join(osp.dirname(__import__('mmpretrain').__file__), '.mim', 'configs',
                               'mobileone', 'metafile.yml')
    with open(mmpretrain_meta) as file:
        released = {m['Weights'] for m in yaml.safe_load(file)['Models']}
    with_weights = []
    for model in model_zoo.load_zoo():
        for result in model.results:
            source = result['Source']
            assert source.startswith(('paper, Table ', 'measured here')), (model.name, source)
        if model.weights:
            with_weights.append(model.name)
            arch = model.name.split('-')[1].split('_')[0]
            assert model.weights == pretrained[arch].checkpoint
            assert model.weights in released
            assert model_zoo.weights_hash_prefix(model.weights) == model.weights[-12:-4]
    assert with_weights == [f'mobileone-s{i}_imagenet' for i in range(5)]


@pytest.mark.slow
def test_pretrain_metadata_is_what_the_configs_load():
    # a subset again: loading a config with an mmdet:: / mmseg:: base takes ~1 s here
    names = (*COUNTED, 'ssdlite_mobileone-s4_coco', 'deeplabv3_mobileone-s3_voconly',
             'ssdlite_mobileone-s0_custom_coco', 'mobileone-s0_synthetic')
    assert pretrain_mismatches([model_zoo.find_model(name) for name in names]) == []


@pytest.mark.slow
def test_counts_agree_with_get_flops_for_one_config_per_family():
    assert count_mismatches([model_zoo.find_model(name) for name in COUNTED]) == []


def test_readmes_are_generated_from_the_metafiles():
    readmes = readme_paths()
    assert readmes == ['configs/README.md', 'configs/custom/README.md',
                       'configs/quickstart/README.md']
    for readme in readmes:
        with open(osp.join(ROOT, readme), encoding='utf-8') as file:
            assert file.read() == render_readme(readme), readme


def _mmpretrain_checkpoint(folder: str) -> tuple:
    """mmpretrain's own MobileOne-S0 classifier, saved as its released checkpoints are, under an
    OpenMMLab file name that carries the file's SHA-256 prefix; returns (path, model)."""
    from mmpretrain.registry import MODELS
    mmpretrain_dir = osp.dirname(__import__('mmpretrain').__file__)
    cfg = Config.fromfile(osp.join(mmpretrain_dir, '.mim', 'configs', 'mobileone',
                                   'mobileone-s0_8xb32_in1k.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # other tests leave mmdet's
        model = MODELS.build(cfg.model).eval()
    randomize_bn(model, seed=5)
    raw = osp.join(folder, 'raw.pth')
    torch.save(dict(meta=dict(mmpretrain_version='1.2.0'), state_dict=model.state_dict()), raw)
    with open(raw, 'rb') as file:
        digest = hashlib.sha256(file.read()).hexdigest()
    path = osp.join(folder, f'mobileone-s0_8xb32_in1k_20990101-{digest[:8]}.pth')
    os.rename(raw, path)
    return path, model


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served``; yields (folder, base URL)."""
    served = tmp_path / 'served'
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield str(served), f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args) -> None:  # no request lines on stderr
        pass


def local_zoo(root: str, name: str, url: str) -> str:
    """A copy of the zoo under ``root`` whose model ``name`` has the weights ``url``."""
    shutil.copytree(osp.join(ROOT, 'configs'), osp.join(root, 'configs'))
    shutil.copy(osp.join(ROOT, 'model-index.yml'), root)
    for metafile in model_zoo.metafile_paths(root):
        path = osp.join(root, metafile)
        data = model_zoo.read_metafile(path)
        for entry in data['Models']:
            if entry['Name'] == name:
                entry['Weights'] = url
                dump_metafile(data, path)
    return root


@pytest.mark.slow
def test_download_resolves_name_url_and_hash_and_loads_into_our_model(local_server, tmp_path):
    served, base = local_server
    path, reference = _mmpretrain_checkpoint(served)
    url = f'{base}/{osp.basename(path)}'
    root = local_zoo(str(tmp_path / 'zoo'), 'mobileone-s0_imagenet', url)
    dest = str(tmp_path / 'downloads')
    got = model_zoo.download_weights('mobileone_s0_imagenet', dest, root=root)  # by alias
    assert got == osp.join(dest, osp.basename(path))
    with open(got, 'rb') as a, open(path, 'rb') as b:
        assert a.read() == b.read()
    assert model_zoo.download_weights('mobileone-s0_imagenet', dest, root=root) == got  # reused
    config = model_zoo.resolve_config('mobileone-s0_imagenet', root)
    ours = init_model(config, got, fuse=False)  # strict: every key and shape fits
    fused = init_model(config, got)
    image = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        expected = reference(image, mode='tensor')
        assert torch.allclose(ours(image, mode='tensor'), expected, rtol=1e-4, atol=1e-5)
        assert torch.allclose(fused(image, mode='tensor'), expected, rtol=1e-3, atol=1e-4)
    assert set(load_checkpoint(got)['state_dict']) == set(ours.state_dict())


def test_download_refuses_a_file_whose_hash_does_not_match(local_server, tmp_path):
    served, base = local_server
    path, _ = _mmpretrain_checkpoint(served)
    wrong = osp.join(served, osp.basename(path)[:-12] + '00000000.pth')
    os.rename(path, wrong)
    root = local_zoo(str(tmp_path / 'zoo'), 'mobileone-s0_imagenet',
                     f'{base}/{osp.basename(wrong)}')
    dest = tmp_path / 'downloads'
    with pytest.raises(CheckpointError, match='00000000'):
        model_zoo.download_weights('mobileone-s0_imagenet', str(dest), root=root)
    assert not any(p.suffix == '.pth' for p in dest.iterdir())


def test_download_errors_name_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match='no released weights; models with weights: '
                       'mobileone-s0_imagenet'):
        model_zoo.download_weights('ssdlite_mobileone-s2_coco', str(tmp_path))
    root = local_zoo(str(tmp_path / 'zoo'), 'mobileone-s1_imagenet',
                     'http://127.0.0.1:9/mobileone-s1_x-0123abcd.pth')  # nothing listens
    with pytest.raises(MissingPathError, match='cannot download'):
        model_zoo.download_weights('mobileone-s1_imagenet', str(tmp_path / 'd'), root=root)


@pytest.mark.slow
def test_image_demo_takes_a_model_name(tmp_path, caplog):
    from mmengine.registry import MODELS

    from mmmobileone.datasets.synthetic import generate_coco
    from tools.image_demo import main as image_demo
    data = tmp_path / 'coco'
    generate_coco(str(data), num_train=1, num_val=2, image_size=(128, 96), classes=SMALL_CLASSES)
    config = model_zoo.resolve_config('ssdlite_mobileone-mu1_synthetic')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(config).model)
    checkpoint = str(tmp_path / 'weights.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=SMALL_CLASSES))), checkpoint)
    out = tmp_path / 'out'
    assert image_demo([str(data / 'val2017'), 'ssdlite_mobileone-mu1_synthetic', checkpoint,
                       '--out-dir', str(out)]) == 0
    assert len(os.listdir(out / 'vis')) == 2
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert image_demo([str(data / 'val2017'), 'ssdlite_mobileone-mu9_synthetic', checkpoint,
                           '--out-dir', str(out)]) == 1
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and 'ssdlite_mobileone-mu1_synthetic' in lines[0]
