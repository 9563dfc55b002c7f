"""Parameter / MAC counts of whole configs (tools/analysis/get_flops.py)."""
import pytest
from conftest import ROOT, s0_classifier_config

from mmmobileone import MobileOne, count_params_and_macs, reparameterize_model
from mmmobileone.analysis import config_complexity, format_table, markdown_table
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_markdown_writes_only_the_table_of_the_requested_layout(capsys):
    config = f'{ROOT}/configs/ssdlite_mobileone_s0_coco.py'
    rows = run_get_flops(['--markdown', 'compact', config, '--shape', '96', '96'])
    fused, unfused = rows
    assert (fused['fused'], unfused['fused']) == (True, False)
    backbone = reparameterize_model(MobileOne('s0', out_indices=(2, 3)))
    assert fused['backbone_params'] == sum(p.numel() for p in backbone.parameters())
    assert fused['arch'] == 's0'
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('| config | input | params (M) fused / unfused |')
    assert lines[2:] == [
        f"| ssdlite_mobileone_s0_coco | 96x96 | {fused['params'] / 1e6:.2f} / "
        f"{unfused['params'] / 1e6:.2f} | {fused['backbone_params'] / 1e6:.2f} | "
        f"{fused['macs'] / 1e9:.1f} / {unfused['macs'] / 1e9:.1f} |"]


def test_paper_layout_shows_fused_rows_beside_the_paper():
    rows = [dict(config='a', arch='s0', fused=True, params=2_078_504, macs=275_160_576),
            dict(config='a', arch='s0', fused=False, params=5_293_272, macs=1_088_463_360),
            dict(config='b', arch='custom', fused=True, params=1_234_567, macs=98_765_432)]
    lines = markdown_table(rows, 'paper').splitlines()
    assert lines[2:] == ['| S0 | 2.08M | 2.1M | 275.2M | 275M |',
                         '| custom | 1.23M | - | 98.8M | - |']
