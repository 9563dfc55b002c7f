"""The INT8 study's classifier mode (issue 21): ``tools/deployment/int8_study.py --train-seeds``
generates synthetic ImageNet-folder data, trains with tools/train.py, quantizes the fused
checkpoint and scores top-1 agreement with float and top-1 accuracy through the runtime.

Structure and metric correctness only (a one-epoch network on 32 images): the float network's
agreement with itself is 1, its top-1 is the one mmpretrain's ``Accuracy`` gave the same fused
network at the end of training, and INT8 top-1 can differ from float top-1 by no more than the
disagreement. How well INT8 holds on properly trained classifiers: docs/deployment.md, section 5.
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


@pytest.mark.slow
def test_classifier_mode_trains_fuses_and_scores(tmp_path):
    out = tmp_path / 'study'
    args = [CONFIG, '--train-seeds', '0', '--out-dir', str(out), '--methods', 'default',
            '--backends', 'onnx', '--calib-images', '4', '--train-data', 'train_per_class=4',
            'val_per_class=4', 'image_size=32', '--train-options', 'train_cfg.max_epochs=1']
    assert study_main(args) == 0
    with open(out / 'train.json') as f:
        run, = json.load(f)
    with open(out / 'int8_study.json') as f:
        found, = json.load(f)['checkpoints']
    assert run['name'] == found['label'] == 'default_seed0'
    assert os.path.isfile(run['checkpoint']) and run['checkpoint'].endswith('deploy.pth')
    assert found['task'] == 'classification' and found['images'] == 8 * 4
    assert found['float'] == 1.0  # the float network agrees with itself
    # the study's float top-1 is mmpretrain's Accuracy of the fused network after training
    assert found['float_top1'] == pytest.approx(run['val_top1'], abs=1e-6)
    int8 = found['results']['default']['onnx']
    assert 0 <= int8['value'] <= 1 and int8['delta'] == pytest.approx(int8['value'] - 1)
    assert abs(int8['top1'] - found['float_top1']) <= 1 - int8['value'] + 1e-9
    assert round(int8['top1'] * 32) == pytest.approx(int8['top1'] * 32)
    assert '| default_seed0 | 32 |' in (out / 'int8_study.md').read_text()
    # a second run keeps the trained classifier (and, resumed, its results)
    mtime = os.path.getmtime(run['checkpoint'])
    assert study_main(args + ['--resume']) == 0
    assert os.path.getmtime(run['checkpoint']) == mtime
