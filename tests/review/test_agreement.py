"""Cohen's kappa against values worked out by hand and published examples."""

from __future__ import annotations

import pytest

from apps.review.agreement import cohen_kappa


def pairs(counts: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, n in counts.items() for _ in range(n)]


def test_kappa_of_the_wikipedia_example_is_0_4():
    # 50 proposals: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 → p_o 0.7, p_e 0.5, κ 0.4.
    data = pairs({("y", "y"): 20, ("y", "n"): 5, ("n", "y"): 10, ("n", "n"): 15})
    assert cohen_kappa(data) == pytest.approx(0.4)


def test_kappa_of_a_second_worked_example():
    # p_o = (45+20)/100 = 0.65; A says pass 70%, B 55% → p_e = 0.7*0.55 + 0.3*0.45 = 0.52; κ = 0.13/0.48.
    data = pairs({("pass", "pass"): 45, ("pass", "fail"): 25, ("fail", "pass"): 10, ("fail", "fail"): 20})
    assert cohen_kappa(data) == pytest.approx(0.13 / 0.48)


def test_perfect_agreement_is_1_and_systematic_disagreement_is_negative():
    assert cohen_kappa([("pass", "pass"), ("fail", "fail")] * 3) == pytest.approx(1.0)
    assert cohen_kappa([("pass", "fail"), ("fail", "pass")] * 3) == pytest.approx(-1.0)


def test_kappa_of_three_categories():
    # p_o = 7/10; marginals A (4,3,3), B (4,4,2) → p_e = (16+12+6)/100 = 0.34; κ = 0.36/0.66.
    a = ["x", "x", "x", "x", "y", "y", "y", "z", "z", "z"]
    b = ["x", "x", "x", "y", "y", "y", "x", "z", "z", "y"]
    assert cohen_kappa(list(zip(a, b, strict=True))) == pytest.approx(0.36 / 0.66)


def test_no_pairs_or_one_label_throughout_is_undefined():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("pass", "pass")] * 4) is None
