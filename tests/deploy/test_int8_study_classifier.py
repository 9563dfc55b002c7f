"""The INT8 study's classifier mode (issue 21): ``tools/deployment/int8_study.py --train-seeds``
generates synthetic ImageNet-folder data, trains with tools/train.py, quantizes the fused
checkpoint and scores top-1 agreement with float and top-1 accuracy through the runtime.

The table's arithmetic on known inputs; then three small classifiers trained by the tool, whose
worst INT8 agreement must hold (the float top-1 the study measures is the one mmpretrain's
``Accuracy`` gave the same fused network at the end of training, and INT8 top-1 can differ from
float top-1 by no more than the disagreement). The S0 classifiers of the quickstart recipe:
docs/deployment.md, section 5.
"""
import json
import os

import pytest
from conftest import ROOT

from mmmobileone.deploy.int8.study import format_study, summarize
from tools.deployment.int8_study import main as study_main

CONFIG = os.path.join(ROOT, 'configs/quickstart/mobileone_s0_synthetic.py')


def _checkpoint(label, agreement, top1, float_top1=0.75):
    return dict(label=label, task='classification', float=1.0, float_top1=float_top1,
                images=4, absorbed={'a': 1}, cpu_capability='AVX2, oneDNN AVX2',
                results={'default': {'onnx': dict(value=agreement, delta=agreement - 1,
                                                  top1=top1)}})


def test_classifier_table_reports_agreement_and_top1():
    checkpoints = [_checkpoint('seed0', 1.0, 0.75), _checkpoint('seed1', 0.5, 0.5),
                   _checkpoint('seed2', 0.75, 1.0)]
    row, = summarize(checkpoints, ['default'], ['onnx'])
    assert (row['worst'], row['median'], row['best']) == (-0.5, -0.25, 0.0)
    assert (row['worst_checkpoint'], row['within']) == ('seed1', 1)
    text = format_study(dict(checkpoints=checkpoints, methods=['default'], backends=['onnx']))
    assert '| default | onnx | 3 | 0.500 | 0.750 | 1.000 | 1/3 | seed1 |' in text
    assert '| seed1 | 4 | 0.750 | 0.500 | 0.500 | 1 |' in text
    assert 'measured on: AVX2, oneDNN AVX2' in text


#: Three small classifiers the test trains (about 35 s each on one core): MobileOne-mu0 on 3
#: synthetic classes (48 training images each, 72 px, crops of 64), 12 epochs at batch 16; scored
#: on 64 validation images per class (192: one image is 0.005).
TRAIN_DATA = ['classes=3', 'train_per_class=48', 'val_per_class=64', 'image_size=72']
TRAIN_OPTIONS = ['model.backbone.arch=mu0', 'model.head.in_channels=384',
                 'train_dataloader.batch_size=16', 'train_cfg.max_epochs=12',
                 'train_cfg.val_interval=12', 'param_scheduler.1.end=12',
                 'default_hooks.checkpoint.interval=12']
#: Worst top-1 agreement of the default INT8 export with float allowed over the three seeds, on
#: each runtime: issue 21's classifier target. Measured (2026-12-07, AVX2-only CPU): seeds 0-2
#: agree on 1.000 / 0.995 / 0.979 (ExecuTorch) and 0.990 / 0.984 / 0.984 (ONNX Runtime); fused
#: float top-1 0.995 / 0.974 / 0.984.
MIN_AGREEMENT = 0.95


@pytest.mark.slow
def test_default_int8_holds_on_the_worst_of_three_trained_classifiers(tmp_path):
    """``int8_study.py --train-seeds 0 1 2`` end to end: synthetic ImageNet-folder data and
    tools/train.py per seed, the fused checkpoints, the default INT8 export through both
    runtimes; the worst of the three must keep the target, not one lucky seed (issue 21)."""
    out = tmp_path / 'study'
    args = [CONFIG, '--train-seeds', '0', '1', '2', '--out-dir', str(out), '--methods',
            'default', '--backends', 'executorch', 'onnx', '--train-data', *TRAIN_DATA,
            '--train-options', *TRAIN_OPTIONS]
    assert study_main(args) == 0
    with open(out / 'train.json') as f:
        runs = json.load(f)
    with open(out / 'int8_study.json') as f:
        study = json.load(f)
    assert [r['name'] for r in runs] == [c['label'] for c in study['checkpoints']] == [
        f'default_seed{s}' for s in range(3)]
    for run, found in zip(runs, study['checkpoints']):
        assert run['checkpoint'].endswith('deploy.pth')
        assert found['task'] == 'classification' and found['images'] == 3 * 64
        # the study built the trained network (--train-options apply to it too) and its float
        # top-1 is mmpretrain's Accuracy of the fused network at the end of training
        assert found['cfg_options']['model.backbone.arch'] == 'mu0'
        assert found['float_top1'] == pytest.approx(run['val_top1'], abs=1e-6)
        assert run['val_top1'] > 0.9  # classifiers that learned: agreement means something
        for int8 in found['results']['default'].values():
            assert abs(int8['top1'] - found['float_top1']) <= 1 - int8['value'] + 1e-9
    rows = {r['backend']: r for r in study['summary']}
    for backend, row in rows.items():
        worst = min(c['results']['default'][backend]['value'] for c in study['checkpoints'])
        assert row['worst'] == pytest.approx(worst - 1)
        assert worst >= MIN_AGREEMENT, (backend, row)
    assert '| default | executorch | 3 |' in (out / 'int8_study.md').read_text()
    # a second run keeps the trained classifiers (and, resumed, their results)
    mtime = os.path.getmtime(runs[0]['checkpoint'])
    assert study_main(args + ['--resume']) == 0
    assert os.path.getmtime(runs[0]['checkpoint']) == mtime
