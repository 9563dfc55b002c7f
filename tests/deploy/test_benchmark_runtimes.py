"""``benchmark_latency.py`` across runtimes (issue 12 part 3): float and INT8 rows with file
sizes, BatchNorm calibrated before fusing, a failing backend reported and skipped."""
import json
import os

import pytest
import torch
from deploy_marks import needs_backend

from mmmobileone.analysis import benchmark
from mmmobileone.analysis.benchmark import Entry, calibrate_bn, run_benchmark


def test_calibrate_bn_keeps_activations_order_one():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    net[1].running_var.fill_(1e-6)  # random statistics: huge activations
    calibrate_bn(net, (2, 3, 16, 16))
    assert not net.training and net[1].momentum == 0.1
    out = net(torch.randn(2, 3, 16, 16))
    assert 0.3 < float(out.std()) < 3


@pytest.mark.slow
@needs_backend('onnx', 'executorch', run=True)
def test_one_run_over_runtimes_with_int8(tmp_path, monkeypatch):
    real = benchmark._export

    def export(backend, form, *args):
        if backend == 'ncnn':
            raise RuntimeError('pnnx failed (simulated)')
        return real(backend, form, *args)

    monkeypatch.setattr(benchmark, '_export', export)
    result = run_benchmark([Entry('MobileOne-mu0', 'classification', 'mobileone-mu', 'mu0', 32)],
                           runs=2, warmup=1, backends=['torch', 'ort', 'executorch', 'ncnn'],
                           plot_backend='executorch', out_dir=str(tmp_path))
    row, = result['rows']
    assert set(row.latency) == {'unfused_torch', 'fused_torch', 'unfused_ort', 'fused_ort',
                                'int8_ort', 'fused_executorch', 'int8_executorch'}
    assert row.size_mb['int8_executorch'] < 0.5 * row.size_mb['fused_executorch']
    assert 'fused_ncnn' in row.errors and 'simulated' in row.errors['fused_ncnn']
    text = (tmp_path / 'latency.md').read_text()
    assert 'INT8 / float ExecuTorch (XNNPACK)' in text and 'denormals flushed: True' in text
    assert 'Failed:' in text
    assert sorted(os.listdir(tmp_path)) == ['latency.json', 'latency.md', 'latency.png']
    assert json.loads((tmp_path / 'latency.json').read_text())['environment']['threads'] == 1
