"""A judged metric with a labeled random sample and routed labels, written through the real services.

Shared by the corrected-metrics API test, the dashboards tests and the browser test. The figures are chosen so the
corrected rate is computed by hand in the tests (see `HOUR`'s docstring in test_metrics_corrected_api.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apps.evaluators.models import Evaluator
from apps.projects.models import Project
from apps.review.models import ReviewItem
from apps.review.services import LabelInput, label_record
from apps.scores.models import Score
from apps.scores.rollups import rollups_drain
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from tests.projects.factories import UserFactory
from tests.traces.factories import simple_trace

METRIC = "helpfulness"
HOUR = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RANDOM = {"rule_id": 1, "kind": "random_sample", "text": "random 2% sample"}
ROUTED = {"rule_id": 2, "kind": "check_failed", "text": "check refusal failed"}


@dataclass
class Calibrated:
    """What was written: the traces per role, to assert on."""

    traces: list[Trace] = field(default_factory=list)
    random_labeled: list[Trace] = field(default_factory=list)


def judged_evaluator(project: Project, name: str = METRIC) -> Evaluator:
    """An LLM-judge evaluator: it declares `name` as a judged metric."""
    return Evaluator.objects.create(project=project, name=name, kind=Evaluator.Kind.LLM_JUDGE, version="v1")


def _queue(project: Project, trace: Trace, reasons: list[dict]) -> ReviewItem:
    return ReviewItem.objects.create(
        project=project,
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        trace_started_at=trace.started_at,
        reasons=reasons,
        priority=10,
    )


def _label(project: Project, trace: Trace, verdict: str, reviewer) -> None:
    label_record(project=project, user=reviewer, trace_pk=trace.pk, trace_id=trace.trace_id, data=LabelInput(verdict))


def calibrated_hour(project: Project, *, start: datetime = HOUR, model: str = "gpt-4o-mini") -> Calibrated:
    """40 judged traces in one hour, 30 passed by the judge; a labeled random sample of 8 (human − judge: −1 ×2,
    0 ×6); 3 routed items and a disputed random item that must not count."""
    out = Calibrated()
    judge_passes = [True] * 30 + [False] * 10
    for i, passed in enumerate(judge_passes):
        trace = simple_trace(project, at=start + timedelta(seconds=60 * i + 5), model=model)
        out.traces.append(trace)
        scores_upsert(
            project=project,
            items=[
                ScoreInput(
                    trace_pk=trace.pk,
                    name=METRIC,
                    source=Score.Source.JUDGE,
                    value=1.0 if passed else 0.0,
                    passed=passed,
                    evaluator_version="v1",
                )
            ],
        )
    ann, ben = UserFactory(), UserFactory()
    # random sample: judge passed, human failed ×2; both passed ×4; both failed ×2
    for trace, verdict in zip(
        [*out.traces[0:6], *out.traces[30:32]],
        ["fail", "fail", "pass", "pass", "pass", "pass", "fail", "fail"],
        strict=True,
    ):
        _queue(project, trace, [RANDOM])
        _label(project, trace, verdict, ann)
        out.random_labeled.append(trace)
    # routed by a failed check (chosen by outcome): judge passed, human failed; must not count
    for trace in out.traces[10:13]:
        _queue(project, trace, [ROUTED])
        _label(project, trace, "fail", ann)
    # a disputed random item (one pass, one fail): no consensus, so no pair
    disputed = out.traces[20]
    _queue(project, disputed, [RANDOM])
    _label(project, disputed, "fail", ann)
    _label(project, disputed, "pass", ben)
    rollups_drain()
    return out
