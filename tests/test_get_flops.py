"""Parameter / MAC counts of whole configs (tools/analysis/get_flops.py)."""
from conftest import ROOT, s0_classifier_config

from mmmobileone import MobileOne, count_params_and_macs, reparameterize_model
from mmmobileone.analysis import config_complexity, format_table
from tools.analysis.get_flops import get_flops as run_get_flops

CLASSIFIER_CFG = s0_classifier_config(1000)


def test_classifier_config_matches_the_paper_counts(tmp_path):
    config = tmp_path / 'mobileone_s0_cls.py'
    config.write_text(CLASSIFIER_CFG)
    fused = config_complexity(str(config), fused=True)
    unfused = config_complexity(str(config), fused=False)
    assert fused['task'] == 'classification' and fused['shape'] == (224, 224)
    # paper Table 9 / our README table: S0 fused with a 1000-class head, 2.08M params, 275M MACs
    assert abs(fused['params'] - 2.08e6) < 0.005e6 and abs(fused['macs'] - 275e6) < 1e6
    assert unfused['params'] > fused['params'] and unfused['macs'] > fused['macs']


def test_detector_fusion_changes_only_the_backbone():
    config = f'{ROOT}/configs/ssdlite_mobileone_s0_coco.py'
    rows = run_get_flops([config, '--shape', '96', '96'])
    assert [r['fused'] for r in rows] == [True, False]
    assert all(r['task'] == 'detection' and r['shape'] == (96, 96) for r in rows)
    backbone = MobileOne('s0', out_indices=(2, 3))
    shape = (1, 3, 96, 96)
    unfused_params, unfused_macs = count_params_and_macs(backbone, shape)
    fused_params, fused_macs = count_params_and_macs(reparameterize_model(backbone), shape)
    fused_row, unfused_row = rows
    assert (fused_row['params'] - fused_params == unfused_row['params'] - unfused_params > 0)
    assert fused_row['macs'] - fused_macs == unfused_row['macs'] - unfused_macs > 0
    table = format_table([dict(r, config='ssd') for r in rows])
    assert f"{fused_row['params'] / 1e6:.3f}" in table.splitlines()[2]
