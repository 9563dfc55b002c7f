"""Fused parameter counts and MACs against the paper (Tables 7, 11 and 17)."""
import pytest

from mmmobileone.analysis import fused_classifier_complexity

# (params in millions, MACs in millions) as the paper prints them (Tables 7, 9, 13 and 17),
# with the number of decimals printed for the parameter count
PAPER = {
    's0': (2.1, 1, 275), 's1': (4.8, 1, 825), 's2': (7.8, 1, 1299), 's3': (10.1, 1, 1896),
    's4': (14.8, 1, 2978), 'mu0': (0.57, 2, 68), 'mu1': (0.98, 2, 139), 'mu2': (1.3, 1, 214),
}


@pytest.mark.slow
@pytest.mark.parametrize('arch', list(PAPER))
def test_fused_params_and_macs_match_the_paper(arch):
    params, macs = fused_classifier_complexity(arch)
    paper_params, decimals, paper_macs = PAPER[arch]
    tolerance = 0.01 if arch.startswith('s') else 0.03
    assert abs(macs / 1e6 - paper_macs) / paper_macs <= tolerance, macs
    # The paper prints rounded counts: S0's 2.08M is printed as 2.1M (1.0% apart), so the
    # count must round to the printed figure or lie within the tolerance of it.
    assert (round(params / 1e6, decimals) == paper_params
            or abs(params / 1e6 - paper_params) / paper_params <= tolerance), params


# exact fused counts of this implementation (1000-class head, 224 px): a regression guard
EXACT_PARAMS = {'s0': 2_078_504, 's4': 14_838_352, 'mu0': 558_760}


@pytest.mark.parametrize('arch', list(EXACT_PARAMS))
def test_fused_param_counts_are_stable(arch):
    assert fused_classifier_complexity(arch)[0] == EXACT_PARAMS[arch]
