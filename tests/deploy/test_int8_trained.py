"""INT8 on trained detectors (issue 21): the default export keeps mAP@0.5 on the worst of the
detectors the suite trains, through ExecuTorch and ONNX Runtime.

The suite's quickstart detector (tests/conftest.py, seed 0, 200 images) is one of the networks
that broke before constant-channel absorption (AVX-512 path: float mAP@0.5 0.715, INT8 0.018
ONNX Runtime / 0.256 ExecuTorch); .ci/run repeats this module on the AVX2 path, where the same
recipe trains another network. The study tool (``tools/deployment/int8_study.py``) scores each
checkpoint in a fresh process, as it does for the ten quickstart detectors of
docs/deployment.md.
"""
import os

import pytest
from conftest import ROOT

from mmmobileone.deploy.int8.study import int8_study

#: INT8 figures depend on float rounding: .ci/run repeats this module on the AVX2 CPU path
pytestmark = pytest.mark.isa

CONFIG = os.path.join(ROOT, 'configs/quickstart/ssdlite_mobileone_mu1_synthetic.py')
#: Largest mAP@0.5 loss (float - INT8) allowed on the detector. Measured with the default export
#: (int8_study.py) on the suite's AVX-512 detector: -0.018 ONNX Runtime, -0.004 ExecuTorch (it
#: lost 0.697 / 0.459 without absorption); on an AVX2-only CPU: -0.001 ONNX Runtime (u8 weights;
#: -0.037 with the s8 weights of before, whose kernels saturate there), -0.015 ExecuTorch; on its
#: AVX2 detector and on a seed-1 one: see docs/deployment.md, section 5. Issue 21's target is 0.02
#: (met by all of them); the bound adds 0.01 for the 40-image mAP's granularity across CPUs (one
#: box more or less moves it by about that), and any failure like the one issue 21 found costs
#: 0.4-0.7.
MAX_LOSS = 0.03


@pytest.mark.slow
def test_default_int8_keeps_the_trained_detectors_map(trained_quickstart, tmp_path):
    summary, data_root = trained_quickstart['summary'], trained_quickstart['data_root']
    study = int8_study(CONFIG, [summary['checkpoint']], str(tmp_path), methods=['default'],
                       backends=['executorch', 'onnx'], data_roots=[data_root])
    found, = study['checkpoints']
    # the study's float reference is tools/test.py's mAP of the same checkpoint
    assert found['float'] == pytest.approx(summary['bbox_mAP_50'], abs=1e-3)
    assert found['float'] > 0.4  # a detector that learned: the check means something
    deltas = {b: r['delta'] for b, r in found['results']['default'].items()}
    rows = {(r['method'], r['backend']): r for r in study['summary']}
    assert rows['default', 'onnx']['worst'] == deltas['onnx']
    assert os.path.isfile(tmp_path / 'int8_study.md')
    assert deltas['executorch'] >= -MAX_LOSS, deltas
    assert deltas['onnx'] >= -MAX_LOSS, deltas
