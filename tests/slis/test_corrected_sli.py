"""An SLI on a judged pass rate that uses the bias-corrected rate once enough labeled random-sample traces back it,
and the raw judge rate (saying so) below that."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.scores.ppi import rectifier_from_pairs
from apps.scores.selectors import MetricPoint
from apps.slis.engine import sli_corrected_value
from apps.slis.models import AlertState
from apps.slis.selectors import sli_series, sli_values
from apps.slis.services import alert_rule_create, rule_evaluate, sli_create, sli_update
from tests.scores.calibration_data import HOUR, METRIC, calibrated_hour, judged_evaluator

END = HOUR + timedelta(hours=1)


def _point(passed: int, judged: int) -> MetricPoint:
    return MetricPoint(HOUR, judged, None, passed / judged, None, None, None, passed, judged)


# -- the pure piece -------------------------------------------------------------------------------------------------


def test_corrected_value_below_the_minimum_is_the_raw_rate_and_says_so():
    rect = rectifier_from_pairs([(False, True)] * 2 + [(True, True)] * 6)  # mean −0.25, n 8
    value, samples, basis = sli_corrected_value(_point(30, 40), "pass_rate", rect, 30)
    assert (value, samples) == (0.75, 40)
    assert basis == "raw judge rate: 8 of 30 labels needed to correct it"


def test_corrected_value_at_the_minimum_is_corrected_and_fail_rate_is_its_complement():
    rect = rectifier_from_pairs([(False, True)] * 2 + [(True, True)] * 6)
    value, samples, basis = sli_corrected_value(_point(30, 40), "pass_rate", rect, 8)
    assert (value, samples, basis) == (pytest.approx(0.5), 40, "bias-corrected with 8 labels")
    value, _, _ = sli_corrected_value(_point(30, 40), "fail_rate", rect, 8)
    assert value == pytest.approx(0.5)
    value, _, _ = sli_corrected_value(_point(36, 40), "fail_rate", rect, 8)  # 0.9 − 0.25 = 0.65 pass
    assert value == pytest.approx(0.35)


# -- against real rows ----------------------------------------------------------------------------------------------


@pytest.fixture
def calibrated(project):
    judged_evaluator(project)
    return calibrated_hour(project)


@pytest.mark.django_db
def test_sli_uses_the_corrected_rate_once_the_sample_is_big_enough(project, calibrated):
    sli = sli_create(
        project=project, name="Helpful", metric=METRIC, aggregation="pass_rate", use_corrected=True,
        corrected_min_labels=30,
    )  # fmt: skip
    [value] = sli_values(project=project, sli=sli, start=HOUR, end=END)
    assert value.value == pytest.approx(0.75)
    assert value.basis == "raw judge rate: 8 of 30 labels needed to correct it"
    sli = sli_update(sli=sli, corrected_min_labels=8)
    [value] = sli_values(project=project, sli=sli, start=HOUR, end=END)
    assert (value.value, value.samples) == (pytest.approx(0.5), 40)
    assert value.basis == "bias-corrected with 8 labels"
    [series] = sli_series(project=project, sli=sli, start=HOUR, end=END)
    assert series.points[0][1] == pytest.approx(0.5)
    # an SLI that did not ask keeps the raw rate and says nothing
    raw = sli_create(project=project, name="Helpful raw", metric=METRIC, aggregation="pass_rate")
    [value] = sli_values(project=project, sli=raw, start=HOUR, end=END)
    assert (value.value, value.basis) == (pytest.approx(0.75), "")


@pytest.mark.django_db
def test_a_rule_on_the_corrected_rate_fires_where_the_raw_judge_rate_would_not(project, calibrated):
    sli = sli_create(
        project=project, name="Helpful", metric=METRIC, aggregation="pass_rate", use_corrected=True,
        corrected_min_labels=5,
    )  # fmt: skip
    rule = alert_rule_create(project=project, sli=sli, comparator="<", threshold=0.6, window="1h", min_samples=10)
    rule_evaluate(rule_id=rule.id, now=END - timedelta(minutes=1))
    state = AlertState.objects.get(rule=rule)
    assert (state.state, state.value) == ("firing", pytest.approx(0.5))
    sli_update(sli=sli, use_corrected=False)  # the judge's own 75 % is above the threshold
    rule.refresh_from_db()
    rule_evaluate(rule_id=rule.id, now=END - timedelta(minutes=1))
    state = AlertState.objects.get(rule=rule, rule_version=rule.version)
    assert state.state in ("ok", "resolved")
    assert state.value == pytest.approx(0.75)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metric": "errors", "aggregation": "fail_rate", "use_corrected": True}, "use_corrected"),
        ({"metric": METRIC, "aggregation": "count", "use_corrected": True}, "use_corrected"),
        ({"metric": METRIC, "aggregation": "pass_rate", "use_corrected": True, "corrected_min_labels": 1}, "corrected_min_labels"),
    ],
)  # fmt: skip
def test_corrected_is_refused_where_it_cannot_apply(project, calibrated, fields, field):
    with pytest.raises(ValidationError) as exc:
        sli_create(project=project, name="x", **fields)
    assert field in exc.value.message_dict


@pytest.mark.django_db
def test_the_api_takes_and_returns_the_corrected_fields(project, calibrated, admin_api_client):
    body = {"name": "Helpful", "metric": METRIC, "aggregation": "pass_rate", "use_corrected": True}
    response = admin_api_client.post("/api/v1/slis", {**body, "corrected_min_labels": 40}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["use_corrected"], response.json()["corrected_min_labels"]) == (True, 40)
    bad = admin_api_client.post("/api/v1/slis", {**body, "name": "y", "metric": "errors"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["field"] == "use_corrected"


@pytest.mark.django_db
def test_the_sli_pages_say_which_rate_they_use(client, alice, project):
    judged_evaluator(project)
    calibrated_hour(project, start=timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=50))
    sli = sli_create(project=project, name="Helpful", metric=METRIC, aggregation="pass_rate", use_corrected=True)
    client.force_login(alice)
    for url in (f"/p/{project.slug}/slis/{sli.id}/", f"/p/{project.slug}/slis/"):
        html = client.get(url).content.decode()
        assert 'data-testid="sli-basis"' in html
        assert "raw judge rate: 8 of 30 labels needed to correct it" in html
    sli_update(sli=sli, corrected_min_labels=8)
    html = client.get(f"/p/{project.slug}/slis/{sli.id}/").content.decode()
    assert "bias-corrected with 8 labels" in html
    assert "50 %" in html


@pytest.mark.django_db
def test_the_form_defines_a_corrected_sli_and_names_the_field_it_refuses(client, alice, project, calibrated):
    client.force_login(alice)
    url = f"/p/{project.slug}/slis/new/"
    assert "Bias-corrected" in client.get(url).content.decode()
    form = {"name": "Helpful", "metric": METRIC, "aggregation": "pass_rate", "use_corrected": "on"}
    response = client.post(url, {**form, "corrected_min_labels": "12"})
    assert response.status_code == 302
    sli = project.slis.get(name="Helpful")
    assert (sli.use_corrected, sli.corrected_min_labels) == (True, 12)
    response = client.post(url, {**form, "name": "Errors", "metric": "errors", "aggregation": "fail_rate"})
    assert response.status_code == 400
    assert 'data-field="use_corrected"' in response.content.decode()
