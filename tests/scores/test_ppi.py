"""The PPI estimate against values computed by hand, and its coverage in simulation (known truth, biased judge)."""

from __future__ import annotations

import math
import random

import pytest

from apps.scores.ppi import (
    MIN_LABELED,
    Rectifier,
    ppi_estimate,
    ppi_unclipped,
    rectifier_from_pairs,
    z_value,
)


def test_rectifier_from_pairs_matches_hand_computation():
    # (human, judge): differences 0, 1, 1, 0, 0 → mean 0.4, s² = (3·0.16 + 2·0.36) / 4 = 0.3
    rect = rectifier_from_pairs([(True, True), (True, False), (True, False), (False, False), (True, True)])
    assert rect.n == 5
    assert rect.mean == pytest.approx(0.4)
    assert rect.variance == pytest.approx(0.3)


def test_rectifier_of_a_judge_that_is_too_lenient_is_negative():
    # the judge passes two traces the human fails: differences −1, −1, 0, 0 → mean −0.5, s² = 4·0.25 / 3
    rect = rectifier_from_pairs([(False, True), (False, True), (True, True), (False, False)])
    assert (rect.n, rect.mean) == (4, -0.5)
    assert rect.variance == pytest.approx(1.0 / 3.0)


def test_rectifier_of_no_pairs_and_of_one_pair():
    assert rectifier_from_pairs([]) == Rectifier(0, 0.0, 0.0)
    assert rectifier_from_pairs([(True, False)]) == Rectifier(1, 1.0, 0.0)


def test_z_value_is_the_normal_quantile():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.0)


def test_ppi_matches_hand_computation():
    # judge: 300 of 400 pass → p̂ = 0.75, p̂(1−p̂)/N = 0.1875 / 400 = 0.00046875
    # labels: differences −1 ×10, 0 ×90 → mean −0.1, s² = (10·0.81 + 90·0.01) / 99 = 9 / 99
    pairs = [(False, True)] * 10 + [(True, True)] * 60 + [(False, False)] * 30
    rect = rectifier_from_pairs(pairs)
    assert rect.mean == pytest.approx(-0.1)
    assert rect.variance == pytest.approx(9 / 99)
    estimate, se, half = ppi_unclipped(judge_passed=300, judge_total=400, rectifier=rect)
    expected_se = math.sqrt(0.00046875 + (9 / 99) / 100)  # √0.00137784 = 0.0371193…
    assert estimate == pytest.approx(0.65)
    assert se == pytest.approx(expected_se)
    assert se == pytest.approx(0.0371193, abs=1e-6)
    assert half == pytest.approx(1.959964 * 0.0371193, abs=1e-5)
    result = ppi_estimate(judge_passed=300, judge_total=400, rectifier=rect)
    assert result is not None
    assert result.rate == pytest.approx(0.65)
    assert result.ci_low == pytest.approx(0.65 - 0.0727525, abs=1e-5)
    assert result.ci_high == pytest.approx(0.65 + 0.0727525, abs=1e-5)
    assert result.n_labeled == 100


def test_ppi_clips_to_the_unit_interval():
    # judge 60/100, differences 0, 1, 1, 0, 0: estimate 1.0, half-width 1.96·√(0.0024 + 0.06) ≈ 0.4896
    rect = rectifier_from_pairs([(True, True), (True, False), (True, False), (False, False), (True, True)])
    estimate, _, half = ppi_unclipped(judge_passed=60, judge_total=100, rectifier=rect)
    assert estimate == pytest.approx(1.0)
    assert half == pytest.approx(0.48960, abs=1e-4)
    result = ppi_estimate(judge_passed=60, judge_total=100, rectifier=rect)
    assert (result.rate, result.ci_high) == (pytest.approx(1.0), 1.0)
    assert result.ci_low == pytest.approx(0.5104, abs=1e-4)


def test_ppi_needs_verdicts_and_enough_labels():
    one = rectifier_from_pairs([(True, True)] * (MIN_LABELED - 1))
    assert ppi_estimate(judge_passed=5, judge_total=10, rectifier=one) is None
    assert ppi_estimate(judge_passed=0, judge_total=0, rectifier=rectifier_from_pairs([(True, True)] * 5)) is None


# --- coverage in simulation ----------------------------------------------------------------------------------------

RUNS = 400


def _simulate(rng: random.Random, *, truth: float, fpr: float, fnr: float, n_judged: int, n_labeled: int):
    """One run: n_judged traces whose true verdicts are Bernoulli(truth), judged with the given error rates; a
    uniform random n_labeled of them get a (correct) human label."""
    humans, judges = [], []
    for _ in range(n_judged):
        human = rng.random() < truth
        judge = (rng.random() >= fnr) if human else (rng.random() < fpr)
        humans.append(human)
        judges.append(judge)
    labeled = rng.sample(range(n_judged), n_labeled)
    rect = rectifier_from_pairs((humans[i], judges[i]) for i in labeled)
    passed = sum(judges)
    return passed, rect


@pytest.mark.parametrize(
    ("seed", "truth", "fpr", "fnr", "n_judged", "n_labeled"),
    [
        (11, 0.70, 0.40, 0.05, 4000, 200),  # a lenient judge: passes 40 % of true failures
        (23, 0.90, 0.10, 0.30, 3000, 100),  # a harsh judge: fails 30 % of true passes
        (37, 0.50, 0.25, 0.15, 2000, 60),  # both kinds of error, a small labeled sample
    ],
)
def test_ppi_interval_covers_the_true_rate_and_the_naive_judge_mean_does_not(
    seed, truth, fpr, fnr, n_judged, n_labeled
):
    rng = random.Random(seed)
    covered = naive_covered = 0
    widths = []
    for _ in range(RUNS):
        passed, rect = _simulate(rng, truth=truth, fpr=fpr, fnr=fnr, n_judged=n_judged, n_labeled=n_labeled)
        result = ppi_estimate(judge_passed=passed, judge_total=n_judged, rectifier=rect)
        assert result is not None
        covered += result.ci_low <= truth <= result.ci_high
        widths.append(result.ci_high - result.ci_low)
        p = passed / n_judged
        naive_half = 1.959964 * math.sqrt(p * (1 - p) / n_judged)
        naive_covered += p - naive_half <= truth <= p + naive_half
    coverage = covered / RUNS
    assert coverage >= 0.90, f"PPI 95 % interval covered the truth in {coverage:.1%} of {RUNS} runs"
    assert coverage <= 0.99, f"{coverage:.1%}: the interval is wider than 95 % needs"  # not trivially wide
    assert naive_covered / RUNS < 0.10, f"the naive judge mean covered in {naive_covered / RUNS:.1%} of runs"
    assert sum(widths) / RUNS < 0.35  # an interval that says something


def test_an_unrepresentative_labeled_sample_breaks_coverage():
    """The test can fail: labels drawn only from traces the judge failed (routed items) do not cover the truth."""
    rng = random.Random(5)
    covered = 0
    for _ in range(200):
        humans, judges = [], []
        for _ in range(2000):
            human = rng.random() < 0.7
            humans.append(human)
            judges.append((rng.random() >= 0.05) if human else (rng.random() < 0.4))
        failed = [i for i in range(2000) if not judges[i]]
        rect = rectifier_from_pairs((humans[i], judges[i]) for i in rng.sample(failed, 100))
        result = ppi_estimate(judge_passed=sum(judges), judge_total=2000, rectifier=rect)
        covered += result.ci_low <= 0.7 <= result.ci_high
    assert covered / 200 < 0.5
