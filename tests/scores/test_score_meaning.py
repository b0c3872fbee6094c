"""The one declaration of what a score means: direction, unit, how values read, version labels."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.evaluators.checks import CHECKS
from apps.evaluators.models import Evaluator, EvaluatorVersion
from apps.evaluators.selectors import _value_declaration, evaluator_metric_specs
from apps.scores.metrics import (
    BUILTIN_SPECS,
    SOURCE_SPECS,
    Direction,
    MetricKind,
    MetricSpec,
    score_spec_inferred,
    version_short,
)
from apps.scores.selectors import metric_spec_get, metric_specs_for, score_meanings, scores_describe
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from apps.traces.selectors import trace_score_list_described
from apps.traces.services import traces_ensure

REFUSAL_HASH = "3f2a9c81d0e4"


def test_a_spec_phrases_its_values_and_says_which_way_is_better():
    spec = MetricSpec(
        "refusal",
        MetricKind.BINARY,
        Direction.HIGHER_IS_BETTER,
        "%",
        value_direction=Direction.LOWER_IS_BETTER,
        value_labels=((1.0, "refused (fail)"), (0.5, "partly refused (pass)"), (0.0, "answered (pass)")),
        mean_informative=False,
    )
    assert spec.value_better == Direction.LOWER_IS_BETTER  # the value, unlike the pass rate, is better low
    assert spec.value_text(1.0) == "refused (fail)"
    assert spec.value_text(0.5) == "partly refused (pass)"
    assert spec.value_text(0.25) == "" and spec.value_text(None) == ""
    assert spec.value_meaning == (
        "1 = refused (fail) · 0.5 = partly refused (pass) · 0 = answered (pass) · lower is better"
    )


def test_the_value_direction_defaults_to_the_headlines():
    assert BUILTIN_SPECS["latency_ms"].value_better == Direction.LOWER_IS_BETTER
    assert BUILTIN_SPECS["latency_ms"].value_meaning == "lower is better"
    assert SOURCE_SPECS["rating"].value_meaning == "in stars, 1–5 · higher is better"
    assert BUILTIN_SPECS["traces"].value_direction_text == ""  # neutral


def test_version_labels_number_the_declared_versions_and_shorten_other_hashes():
    spec = MetricSpec("x", MetricKind.BINARY, Direction.HIGHER_IS_BETTER, "%", versions=("aaaa1111bbbb", "cccc2222"))
    assert spec.version_label("aaaa1111bbbb") == "v1"
    assert spec.version_label("cccc2222") == "v2"
    assert spec.version_label(REFUSAL_HASH) == "3f2a9c8"  # unknown to the spec: the hash's first 7 characters
    assert version_short("reviewer:12") == "reviewer:12"  # not a hash: as it is
    assert version_short("v1") == "v1"


def test_every_check_declares_what_its_value_means():
    for kind, check in CHECKS.items():
        assert check.value_labels, kind
        assert check.value_direction in (Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER), kind
    refusal = CHECKS["refusal"]
    assert refusal.value_direction == Direction.LOWER_IS_BETTER  # 1 = refused
    assert not refusal.mean_informative  # its mean would be a refusal rate beside the pass rate
    assert CHECKS["grounding"].mean_informative and CHECKS["grounding"].value_unit == "share of claims supported"


def test_sources_declare_their_scores_once():
    thumbs = SOURCE_SPECS["thumbs_down"]
    assert thumbs.direction == Direction.LOWER_IS_BETTER and thumbs.value_text(1.0) == "thumbs down (fail)"
    verdict = SOURCE_SPECS["human_verdict"]
    assert verdict.direction == Direction.HIGHER_IS_BETTER and verdict.value_text(0.5) == "disputed"
    assert score_spec_inferred("x", judged=True).value_meaning == "higher is better"


@pytest.mark.django_db
def test_an_evaluator_declares_its_metric_with_its_checks_meaning_and_versions(project):
    refusal = Evaluator.objects.get(project=project, name="refusal")
    first = refusal.version
    EvaluatorVersion.objects.create(
        project=project, evaluator=refusal, version=REFUSAL_HASH, previous_version=first, reason="config"
    )
    Evaluator.objects.filter(pk=refusal.pk).update(version=REFUSAL_HASH)
    spec = evaluator_metric_specs(project.pk, ["refusal"])["refusal"]
    assert (spec.kind, spec.direction, spec.unit) == (MetricKind.BINARY, Direction.HIGHER_IS_BETTER, "%")
    assert spec.value_better == Direction.LOWER_IS_BETTER and spec.value_text(1.0) == "refused (fail)"
    assert spec.version_label(first) == "v1" and spec.version_label(REFUSAL_HASH) == "v2"
    # Every reader gets the same declaration: the metric selectors and the filters' meanings.
    assert metric_spec_get(project=project, name="refusal") == spec
    assert metric_specs_for(project=project, names=["refusal", "errors"]) == {
        "refusal": spec,
        "errors": BUILTIN_SPECS["errors"],
    }
    assert score_meanings(project=project, names=["refusal"])["refusal"].startswith("1 = refused (fail)")


def test_a_judge_evaluator_declares_its_scale():
    assert _value_declaration("llm_judge", {"rubric": "helpfulness"})["value_unit"] == "points, 1–5"
    assert _value_declaration("llm_judge", {"rubric": "faithfulness"})["mean_informative"] is False
    assert _value_declaration("llm_judge", {"rubric": "x", "criteria": "y", "scale": "likert5"})["mean_informative"]


@pytest.mark.django_db
def test_the_trace_page_reads_each_scores_meaning_and_version_label(project):
    pk = traces_ensure(project=project, started={"cd" * 16: timezone.now()})["cd" * 16]
    refusal = Evaluator.objects.get(project=project, name="refusal")
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=pk,
                name="refusal",
                source="programmatic",
                value=1.0,
                passed=False,
                evaluator_version=refusal.version,
            ),
            ScoreInput(trace_pk=pk, name="thumbs_down", source="feedback", value=0.0, passed=True),
            ScoreInput(trace_pk=pk, name="tone", source="external", value=0.3, evaluator_version=REFUSAL_HASH),
        ],
    )
    scores = {s.name: s for s in trace_score_list_described(project=project, trace=Trace.objects.get(pk=pk))}
    assert scores["refusal"].value_text == "refused (fail)"
    assert scores["refusal"].version_label == "v1"
    assert "lower is better" in scores["refusal"].value_meaning
    assert scores["thumbs_down"].value_text == "thumbs up (pass)"
    # Undeclared and without rollups or a verdict: no meaning to claim, the hash shortened.
    assert scores["tone"].spec is None and scores["tone"].version_label == "3f2a9c8"
    assert scores_describe(project=project, scores=[]) == []
