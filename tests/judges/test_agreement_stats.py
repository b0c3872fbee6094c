"""Agreement statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from apps.review.agreement import binary_agreement


def pairs(tp: int, fp: int, fn: int, tn: int) -> list[tuple[bool, bool]]:
    """(judge, human) pairs with this confusion matrix."""
    return [(True, True)] * tp + [(True, False)] * fp + [(False, True)] * fn + [(False, False)] * tn


def test_binary_agreement_matches_a_hand_computation():
    # n=100, p_o = 85/100; judge passes 50, people pass 45: p_e = (50·45 + 50·55)/100² = 0.5; κ = 0.35/0.5 = 0.7.
    # SE = √(0.85·0.15 / (100·0.5²)) = √0.0051 = 0.071414; 95 %: 0.7 ± 1.959964·0.071414 = 0.7 ± 0.139969.
    stats = binary_agreement(pairs(tp=40, fp=10, fn=5, tn=45))
    assert (stats.n, stats.tp, stats.fp, stats.fn, stats.tn) == (100, 40, 10, 5, 45)
    assert stats.accuracy == pytest.approx(0.85)
    assert stats.kappa == pytest.approx(0.7)
    assert stats.kappa_low == pytest.approx(0.560031, abs=1e-6)
    assert stats.kappa_high == pytest.approx(0.839969, abs=1e-6)
    assert stats.tpr == pytest.approx(40 / 45)
    assert stats.tnr == pytest.approx(45 / 55)


def test_binary_agreement_of_a_judge_that_always_passes_is_kappa_zero():
    # p_o = 0.6 (the 6 human passes), p_e = (10·6 + 0·4)/100 = 0.6: κ = 0; TNR 0, TPR 1.
    stats = binary_agreement(pairs(tp=6, fp=4, fn=0, tn=0))
    assert stats.kappa == pytest.approx(0.0)
    assert (stats.tpr, stats.tnr) == (1.0, 0.0)
    # SE = √(0.6·0.4 / (10·0.4²)) = √0.15 = 0.387298: the interval is wide on ten labels.
    assert stats.kappa_high == pytest.approx(1.959964 * math.sqrt(0.15), abs=1e-6)


def test_binary_agreement_is_undefined_without_pairs_or_variation():
    empty = binary_agreement([])
    assert (empty.n, empty.accuracy, empty.kappa, empty.tpr, empty.tnr) == (0, None, None, None, None)
    constant = binary_agreement(pairs(tp=5, fp=0, fn=0, tn=0))
    assert constant.accuracy == 1.0 and constant.kappa is None and constant.kappa_low is None
    assert constant.tnr is None  # no human fails to be right about
