"""GET /api/v1/metrics?corrected=true with real rows in PostgreSQL: the bias-corrected pass rate per point.

The data (tests/scores/calibration_data.py): 40 judged traces in one hour, 30 passed by the judge (p̂ = 0.75); 8
labeled random-sample traces with human − judge = −1, −1, 0 ×6 (mean −0.25, s² = 1.5 / 7). By hand:
    corrected = 0.75 − 0.25 = 0.5
    variance  = 0.75 · 0.25 / 40 + (1.5 / 7) / 8 = 0.0046875 + 0.0267857 = 0.0314732, se = 0.177407
    95 % CI   = 0.5 ± 1.959964 · 0.177407 = [0.152292, 0.847708]
Routed items (3 traces the judge passed and humans failed) and a disputed random item do not count.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.review.models import ReviewItem
from apps.scores.corrected import calibration_pairs
from tests.scores.calibration_data import HOUR, METRIC, calibrated_hour, judged_evaluator
from tests.scores.test_metrics_api import client_for

pytestmark = pytest.mark.django_db
RANGE = {"from": HOUR.isoformat(), "to": (HOUR + timedelta(hours=1)).isoformat(), "interval": "1h"}


@pytest.fixture
def calibrated(project):
    judged_evaluator(project)
    return calibrated_hour(project)


def test_corrected_pass_rate_matches_the_hand_computation(project, calibrated):
    response = client_for(project).get("/api/v1/metrics", {"metric": METRIC, "corrected": "true", **RANGE})
    assert response.status_code == 200, response.content
    body = response.json()
    [series] = body["series"]
    [point] = series["points"]
    assert point["count"] == 40
    assert point["pass_rate"] == pytest.approx(0.75)  # the raw judge rate is still there, unchanged
    assert point["n_labeled"] == 8
    assert point["corrected_pass_rate"] == pytest.approx(0.5)
    assert point["ci_low"] == pytest.approx(0.152292, abs=1e-5)
    assert point["ci_high"] == pytest.approx(0.847708, abs=1e-5)
    # the labels were read from the range widened to 7 days ending at `to`
    assert body["correction"] == {
        "labels_from": (HOUR + timedelta(hours=1) - timedelta(days=7)).isoformat().replace("+00:00", "Z"),
        "labels_to": (HOUR + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "confidence": 0.95,
    }


def test_only_the_random_sample_counts(project, calibrated):
    pairs = calibration_pairs(project=project, metric=METRIC, start=HOUR, end=HOUR + timedelta(hours=1))
    assert sorted(p.trace_pk for p in pairs) == sorted(t.pk for t in calibrated.random_labeled)
    # a routed item that is also in the random sample is representative: the sample was drawn before routing
    item = ReviewItem.objects.get(project=project, trace_pk=calibrated.traces[10].pk)
    item.reasons = [*item.reasons, {"rule_id": 1, "kind": "random_sample", "text": "random 2% sample"}]
    item.save()
    pairs = calibration_pairs(project=project, metric=METRIC, start=HOUR, end=HOUR + timedelta(hours=1))
    assert len(pairs) == 9


def test_minute_points_share_the_ranges_labels(project, calibrated):
    response = client_for(project).get(
        "/api/v1/metrics", {**RANGE, "metric": METRIC, "corrected": "true", "interval": "5m"}
    )
    points = response.json()["series"][0]["points"]
    assert len(points) == 8  # 40 traces, one a minute
    assert {p["n_labeled"] for p in points} == {8}
    # a 5-minute bucket of 5 judge passes: 1.0 − 0.25
    assert points[0]["pass_rate"] == 1.0
    assert points[0]["corrected_pass_rate"] == pytest.approx(0.75)
    assert points[0]["ci_low"] < 0.75 < points[0]["ci_high"]


def test_group_by_model_corrects_each_slice_with_its_own_labels(project, calibrated):
    other = calibrated_hour(project, model="gpt-4o")
    assert other.random_labeled
    response = client_for(project).get(
        "/api/v1/metrics", {**RANGE, "metric": METRIC, "corrected": "true", "group_by": "model"}
    )
    series = {s["group"]["model"]: s["points"][0] for s in response.json()["series"]}
    assert set(series) == {"gpt-4o", "gpt-4o-mini"}
    for point in series.values():
        assert (point["n_labeled"], point["count"]) == (8, 40)
        assert point["corrected_pass_rate"] == pytest.approx(0.5)
    # filtered to one model, the same
    response = client_for(project).get(
        "/api/v1/metrics", {**RANGE, "metric": METRIC, "corrected": "true", "model": "gpt-4o"}
    )
    assert response.json()["series"][0]["points"][0]["n_labeled"] == 8


def test_without_labels_the_point_says_so(project):
    judged_evaluator(project)
    calibrated_hour(project)
    response = client_for(project).get(
        "/api/v1/metrics",
        {"metric": METRIC, "corrected": "true", "from": "2026-12-20T00:00:00", "to": "2026-12-20T01:00:00"},
    )
    assert response.json()["series"] == []  # no judged traces at all in a range 30 days later
    # a range with traces but whose labels were never given: n_labeled 0, no correction
    ReviewItem.objects.filter(project=project).delete()
    point = client_for(project).get("/api/v1/metrics", {"metric": METRIC, "corrected": "true", **RANGE}).json()
    point = point["series"][0]["points"][0]
    assert (point["n_labeled"], point["corrected_pass_rate"], point["ci_low"], point["ci_high"]) == (
        0,
        None,
        None,
        None,
    )


def test_without_corrected_the_shape_is_unchanged(project, calibrated):
    body = client_for(project).get("/api/v1/metrics", {"metric": METRIC, **RANGE}).json()
    assert "correction" not in body
    assert set(body["series"][0]["points"][0]) == {"t", "count", "value", "pass_rate", "p50", "p95", "p99"}
    body = client_for(project).get("/api/v1/metrics", {"metric": METRIC, "corrected": "false", **RANGE}).json()
    assert "corrected_pass_rate" not in body["series"][0]["points"][0]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"metric": "errors", "corrected": "true"}, "corrected", "not judged"),
        ({"metric": "latency_ms", "corrected": "1"}, "corrected", "not judged"),
        ({"metric": METRIC, "corrected": "maybe"}, "corrected", "true or false"),
    ],
)
def test_corrected_refuses_what_it_cannot_correct(project, calibrated, params, field, words):
    response = client_for(project).get("/api/v1/metrics", {**RANGE, **params})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert words in body["error"]


def test_a_programmatic_pass_rate_is_not_judged(project, calibrated):
    # every project has the default programmatic evaluators, refusal among them
    response = client_for(project).get("/api/v1/metrics", {**RANGE, "metric": "refusal", "corrected": "true"})
    assert response.status_code == 400
    assert response.json()["field"] == "corrected"
