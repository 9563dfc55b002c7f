"""Two-process CPU (gloo) training and testing through tools/dist_train.sh and dist_test.sh.

torchrun starts two ranks of tools/train.py on a tiny classifier whose config asks for SyncBN
and EMA. Without CUDA, mmmobileone.cli switches to gloo, wraps DDP without device ids and turns
SyncBN into BN (PyTorch DDP refuses SyncBatchNorm on CPU modules; real SyncBN needs GPUs).
A probe hook, imported by both ranks through ``custom_imports``, records what each rank saw.
"""
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from helpers import cls_config, make_cls_data, write_config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmmobileone.models import needs_fusion
from mmmobileone.registry import HOOKS
from tools.test import test as run_test

TESTS_DIR = osp.dirname(osp.abspath(__file__))


@HOOKS.register_module(force=True)
class DistProbeHook(Hook):
    """Writes ``probe_rank{R}.json`` into the work dir: what this rank saw during training."""

    priority = 'LOWEST'

    def before_run(self, runner):
        self.record = dict(rank=runner.rank, world_size=runner.world_size,
                           ddp=is_model_wrapper(runner.model), saves=[], val_fused=[])

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 0:
            self.record['val_fused'].append(not is_model_wrapper(runner.model)
                                            and not needs_fusion(runner.model))

    def before_save_checkpoint(self, runner, checkpoint):
        self.record['saves'].append(checkpoint['meta']['epoch'])

    def after_run(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.record['param_sums'] = [p.double().sum().item() for p in model.parameters()]
        path = osp.join(runner.work_dir, f'probe_rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(self.record, f)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _torchrun(script, args, cwd):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=TESTS_DIR)
    return subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_process_cpu_training_and_testing(tmp_path):
    data_root = make_cls_data(str(tmp_path / 'data'), per_class=2)
    cfg = cls_config(data_root, str(tmp_path / 'work'), max_epochs=2,
                     norm_cfg=dict(type='SyncBN'),
                     extra_hooks=[dict(type='mmmobileone.DistProbeHook')])
    cfg['custom_imports']['imports'].append('test_dist')
    config = write_config(cfg, str(tmp_path / 'tiny_cls.py'))

    result = _torchrun('dist_train.sh', [config, '2'], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'SyncBN becomes BN (1 norm config(s) changed' in result.stderr

    work_dir = cfg['work_dir']
    records = []
    for rank in (0, 1):
        with open(osp.join(work_dir, f'probe_rank{rank}.json')) as f:
            records.append(json.load(f))
    for rank, record in enumerate(records):
        assert record['rank'] == rank and record['world_size'] == 2 and record['ddp']
        assert record['val_fused'] == [True, True]  # two validations, each on the fused model
    # checkpoints are written by rank 0 only, once per epoch; DDP kept the weights in sync
    assert records[0]['saves'] == [1, 2] and records[1]['saves'] == []
    torch.testing.assert_close(torch.tensor(records[0]['param_sums']),
                               torch.tensor(records[1]['param_sums']), rtol=0, atol=1e-9)
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) == [
        'deploy.pth', 'epoch_1.pth', 'epoch_2.pth']

    # distributed test of the deployed checkpoint == single-process test of the training one
    deploy = osp.join(work_dir, 'deploy.pth')
    dist_out = str(tmp_path / 'dist.pkl')
    result = _torchrun('dist_test.sh', [
        config, deploy, '2', '--work-dir', str(tmp_path / 'test_dist'), '--out', dist_out,
        '--cfg-options', 'model.backbone.deploy=True'], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    single_out = str(tmp_path / 'single.pkl')
    metrics = run_test([config, osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
                        str(tmp_path / 'test_single'), '--out', single_out])
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    with open(dist_out, 'rb') as f:
        dist_results = pickle.load(f)
    with open(single_out, 'rb') as f:
        single_results = pickle.load(f)
    assert len(dist_results) == len(single_results) == 6
    by_path = {r['img_path']: r['pred_score'] for r in single_results}
    assert {r['img_path'] for r in dist_results} == set(by_path)
    for r in dist_results:
        torch.testing.assert_close(r['pred_score'], by_path[r['img_path']], rtol=1e-4,
                                   atol=1e-5)
