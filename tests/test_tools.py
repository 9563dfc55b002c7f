"""tools/train.py, tools/test.py, the converter and the launchers, through their entry points.

One tiny classifier is trained once for the module (2 epochs, EMA, ReparamHook) with
``run_train``; the tests then test, resume and convert it, and check each user error exits
with status 1 and a one-line message.
"""
import copy
import logging
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from helpers import cls_config, train_tiny_classifier, write_config
from mmengine.config import Config

from tools.model_converters import reparameterize as reparameterize_tool
from tools.test import main as main_test
from tools.test import test as run_test
from tools.train import main as main_train
from tools.train import merge_args as merge_train_args
from tools.train import parse_args
from tools.train import train as run_train

VAL_IMAGES = 6


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train 2 epochs with tools/train.py's entry point; returns paths and the runner."""
    trained = train_tiny_classifier(str(tmp_path_factory.mktemp('tools')), per_class=2,
                                    max_epochs=2, deterministic=True)
    work_dir, runner = trained['work_dir'], trained['runner']
    return dict(trained, val_top1=runner.message_hub.get_scalar('val/accuracy/top1').current(),
                epoch1=osp.join(work_dir, 'epoch_1.pth'),
                epoch2=osp.join(work_dir, 'epoch_2.pth'))


def _scores(path):
    with open(path, 'rb') as f:
        results = pickle.load(f)
    return {r['img_path']: r['pred_score'] for r in results}


def _one_error(caplog):
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert '\n' not in message
    return message


@pytest.mark.slow
def test_train_then_test_fused_unfused_and_deployed(trained, tmp_path):
    runner = trained['runner']
    assert runner.epoch == 2 and runner.iter == 4
    names = set(os.listdir(trained['work_dir']))
    assert {'epoch_1.pth', 'epoch_2.pth', 'deploy.pth', 'last_checkpoint'} <= names
    assert not any(name.endswith('.part') for name in names)  # no temporary file left

    fused_pkl = str(tmp_path / 'fused.pkl')
    show_dir = tmp_path / 'show'
    metrics = run_test([trained['config'], trained['epoch2'], '--work-dir', str(tmp_path / 'a'),
                        '--out', fused_pkl, '--show-dir', str(show_dir)])
    # the test metric of the last checkpoint is the last validation metric (EMA, fused)
    assert metrics['accuracy/top1'] == pytest.approx(trained['val_top1'])
    drawn = [f for _, _, files in os.walk(show_dir) for f in files if f.endswith('.png')]
    assert len(drawn) == VAL_IMAGES

    unfused_pkl = str(tmp_path / 'unfused.pkl')
    unfused = run_test([trained['config'], trained['epoch2'], '--work-dir', str(tmp_path / 'b'),
                        '--no-fuse', '--out', unfused_pkl])
    deployed_pkl = str(tmp_path / 'deployed.pkl')
    deployed = run_test([trained['config'], trained['deploy'], '--work-dir',
                         str(tmp_path / 'c'), '--out', deployed_pkl, '--cfg-options',
                         'model.backbone.deploy=True'])
    assert unfused['accuracy/top1'] == deployed['accuracy/top1'] == metrics['accuracy/top1']
    fused, reference, shipped = _scores(fused_pkl), _scores(unfused_pkl), _scores(deployed_pkl)
    assert len(reference) == VAL_IMAGES and fused.keys() == reference.keys() == shipped.keys()
    for path, score in reference.items():
        torch.testing.assert_close(fused[path], score, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(shipped[path], score, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_resume_repeats_uninterrupted_training(trained, tmp_path):
    work_dir = str(tmp_path / 'work')
    first = run_train([trained['config'], '--work-dir', work_dir, '--cfg-options',
                       'train_cfg.max_epochs=1'])
    assert first.epoch == 1
    resumed = run_train([trained['config'], '--work-dir', work_dir, '--resume'])  # latest
    assert resumed.epoch == 2 and resumed.iter == trained['runner'].iter
    expected = torch.load(trained['epoch2'], weights_only=True)
    actual = torch.load(osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    for part in ('state_dict', 'ema_state_dict'):
        for key, value in expected[part].items():
            torch.testing.assert_close(actual[part][key], value, rtol=1e-5, atol=1e-6)
    deployed = torch.load(osp.join(work_dir, 'deploy.pth'), weights_only=True)['state_dict']
    for key, value in torch.load(trained['deploy'], weights_only=True)['state_dict'].items():
        torch.testing.assert_close(deployed[key], value, rtol=1e-5, atol=1e-6)

    # an explicit --resume CHECKPOINT continues from that file
    again = run_train([trained['config'], '--work-dir', str(tmp_path / 'again'), '--resume',
                       trained['epoch1']])
    assert again.epoch == 2 and again.iter == trained['runner'].iter


def test_converter(trained, tmp_path, caplog):
    converter = reparameterize_tool
    out = str(tmp_path / 'converted.pth')
    assert converter.main([trained['config'], trained['epoch2'], out, '--shape', '32',
                           '32']) == 0
    converted = torch.load(out, weights_only=True)
    deployed = torch.load(trained['deploy'], weights_only=True)
    assert converted['meta']['deploy'] is True
    assert converted['meta']['dataset_meta']['classes'] == ('cat', 'dog', 'fox')
    for key, value in deployed['state_dict'].items():
        torch.testing.assert_close(converted['state_dict'][key], value, rtol=1e-5, atol=1e-6)

    caplog.clear()
    assert converter.main([trained['config'], trained['deploy'], out]) == 1
    assert 'already fused' in _one_error(caplog)

    other = copy.deepcopy(trained['cfg'])
    other['model']['head']['num_classes'] = 5
    other_config = write_config(other, str(tmp_path / 'other.py'))
    caplog.clear()
    assert converter.main([other_config, trained['epoch2'], str(tmp_path / 'x.pth')]) == 1
    message = _one_error(caplog)
    assert 'does not match' in message and 'head.fc.weight' in message
    assert not osp.exists(tmp_path / 'x.pth')


def test_error_missing_config(tmp_path, caplog):
    missing = str(tmp_path / 'nope.py')
    assert main_train([missing]) == 1
    assert f"config file {missing!r} not found" in _one_error(caplog)
    caplog.clear()
    assert main_test([missing, 'x.pth']) == 1
    assert 'not found' in _one_error(caplog)


def test_error_missing_dataset_root(tmp_path, caplog):
    data_root = str(tmp_path / 'data' / 'imagenet')
    config = write_config(cls_config(data_root, str(tmp_path / 'work')),
                          str(tmp_path / 'cfg.py'))
    assert main_train([config]) == 1
    message = _one_error(caplog)
    assert repr(data_root) in message and 'data_root=PATH' in message
    assert 'docs/workflow.md' in message


def test_error_fused_checkpoint_for_train_config(trained, caplog):
    assert main_test([trained['config'], trained['deploy']]) == 1
    message = _one_error(caplog)
    assert 'fused' in message and 'model.backbone.deploy=True' in message
    caplog.clear()
    assert main_train([trained['config'], '--resume', trained['deploy']]) == 1
    assert 'model.backbone.deploy=True' in _one_error(caplog)
    caplog.clear()  # and the reverse: a training checkpoint for a deploy config
    assert main_test([trained['config'], trained['epoch2'], '--cfg-options',
                      'model.backbone.deploy=True']) == 1
    assert 'reparameterize.py' in _one_error(caplog)


@pytest.mark.parametrize('damage', ['truncated', 'corrupt'])
def test_error_damaged_checkpoint(trained, tmp_path, caplog, damage):
    with open(trained['epoch2'], 'rb') as f:
        data = f.read()
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes(data[:len(data) // 2] if damage == 'truncated' else
                    bytes(range(256)) * 64)
    expected = {'truncated': 'truncated or corrupt', 'corrupt': 'corrupt or not a checkpoint'}
    assert main_test([trained['config'], str(bad)]) == 1
    message = _one_error(caplog)
    assert expected[damage] in message and str(bad) in message
    caplog.clear()
    assert main_train([trained['config'], '--resume', str(bad)]) == 1
    assert expected[damage] in _one_error(caplog)


@pytest.mark.slow
def test_scripts_exit_with_one_line_error(trained, tmp_path):
    """The real scripts: status 1, one ERROR line on stderr, no traceback."""
    with open(trained['epoch2'], 'rb') as f:
        data = f.read()
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(data[:1000])
    result = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'test.py'),
                             trained['config'], str(bad)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    errors = [line for line in result.stderr.splitlines() if ' - ERROR - ' in line]
    assert len(errors) == 1 and 'truncated or corrupt' in errors[0]


def test_flags_merge_into_config(tmp_path):
    cfg = Config(cls_config(str(tmp_path), str(tmp_path / 'work')))
    args = parse_args(['cfg.py', '--amp', '--cfg-options', 'optim_wrapper.optimizer.lr=0.5'])
    merged = merge_train_args(copy.deepcopy(cfg), args)
    assert merged.optim_wrapper.type == 'AmpOptimWrapper'
    assert merged.optim_wrapper.loss_scale == 'dynamic'
    assert merged.optim_wrapper.optimizer.lr == 0.5
    assert merged.work_dir == str(tmp_path / 'work')
    with pytest.raises(ValueError, match='auto_scale_lr.base_batch_size'):
        merge_train_args(copy.deepcopy(cfg), parse_args(['c.py', '--auto-scale-lr']))
    cfg.auto_scale_lr = dict(base_batch_size=256)
    merged = merge_train_args(cfg, parse_args(['c.py', '--auto-scale-lr']))
    assert merged.auto_scale_lr.enable is True
    # load_from: a local file is checked up front, a remote one is left to mmengine
    cfg.load_from = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        merge_train_args(copy.deepcopy(cfg), parse_args(['c.py']))
    cfg.load_from = 'https://download.example.org/mobileone.pth'
    assert merge_train_args(cfg, parse_args(['c.py'])).load_from == cfg.load_from


@pytest.mark.parametrize('script,args,expected', [
    ('slurm_train.sh', ['part', 'job', 'cfg.py', 'wd', '--amp'],
     ['-p', 'part', '--job-name=job', '--ntasks=4', '--ntasks-per-node=2', 'train.py',
      'cfg.py', '--work-dir=wd', '--launcher=slurm', '--amp']),
    ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ck.pth', '--out', 'r.pkl'],
     ['-p', 'part', '--ntasks=4', 'test.py', 'cfg.py', 'ck.pth', '--launcher=slurm', '--out',
      'r.pkl']),
])
def test_slurm_launchers(tmp_path, script, args, expected):
    """srun is replaced by a stub that records its arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'srun_args'
    stub = bin_dir / 'srun'
    stub.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {record}\n')
    stub.chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', GPUS='4', GPUS_PER_NODE='2',
               PYTHON='python3')
    result = subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    recorded = [osp.basename(a) if a.endswith('.py') and '/' in a else a
                for a in record.read_text().splitlines()]
    positions = [recorded.index(item) for item in expected]
    assert positions == sorted(positions)


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                                    'slurm_test.sh'])
def test_launchers_usage(script):
    result = subprocess.run(['bash', osp.join(ROOT, 'tools', script)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith('usage:')
