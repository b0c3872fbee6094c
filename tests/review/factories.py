"""Helpers for review tests: traces with scores written through the real upsert, reviewers, rules."""

from __future__ import annotations

from typing import Any

from apps.projects.models import Membership, Project
from apps.review.models import RoutingRule
from apps.review.services import RuleSpec, routing_rule_create
from apps.scores.services import ScoreInput, scores_upsert
from apps.traces.models import Trace
from tests.projects.factories import UserFactory
from tests.traces.factories import simple_trace


def reviewer(project: Project, username: str, role: str = Membership.Role.REVIEWER):
    """Return a user with the role in the project."""
    user = UserFactory(username=username)
    Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return user


def only_rules(project: Project, *specs: RuleSpec) -> list[RoutingRule]:
    """Replace the project's default rules by these."""
    RoutingRule.objects.filter(project=project).delete()
    return [routing_rule_create(project=project, spec=spec) for spec in specs]


def score(project: Project, trace: Trace, name: str, source: str, value: float | None = None, **kw: Any) -> None:
    """Write one score through scores_upsert."""
    scores_upsert(project=project, items=[ScoreInput(trace_pk=trace.pk, name=name, source=source, value=value, **kw)])


def traces(project: Project, n: int) -> list[Trace]:
    return [simple_trace(project) for _ in range(n)]
