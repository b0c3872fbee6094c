"""Reads for evaluators: traces flattened into Subjects, evaluator lists and their recent pass rates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db.models import QuerySet
from django.utils import timezone

from apps.evaluators.checks import CHECKS
from apps.evaluators.checks.base import INITIAL_LOGIC_VERSION
from apps.evaluators.models import Backfill, Evaluator, EvaluatorVersion
from apps.evaluators.subject import Document, Subject, ToolCall
from apps.judges.models import JudgeRequest
from apps.judges.rubrics import BUILTIN_RUBRICS, SCALE_VALUES
from apps.projects.models import Project
from apps.scores.metrics import Direction, MetricKind, MetricSpec
from apps.scores.models import Score
from apps.scores.selectors import score_rates_by_version
from apps.traces.selectors import trace_evaluation_rows

JSON_FORMATS = {"json", "json_object", "json_schema"}


def _asks_for_json(request_params: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether an LLM request asked for JSON output (response_format, structured output or output type)."""
    fmt = request_params.get("response_format")
    if isinstance(fmt, dict):
        fmt = fmt.get("type")
    if isinstance(fmt, str) and fmt.lower() in JSON_FORMATS:
        return True
    if request_params.get("structured_output_schema") or request_params.get("output_schema"):
        return True
    output_type = request_params.get("output_type") or attributes.get("gen_ai.output.type")
    return isinstance(output_type, str) and output_type.lower() == "json"


def _tool_calls(messages: list[dict[str, Any]]) -> list[ToolCall]:
    calls = []
    for message in messages or []:
        for part in message.get("parts") or []:
            if isinstance(part, dict) and part.get("type") == "tool_call":
                calls.append(
                    ToolCall(
                        name=str(part.get("name") or ""), arguments=part.get("arguments"), id=str(part.get("id") or "")
                    )
                )
    return calls


def _json(value: Any) -> Any:
    """Decode a jsonb column read as text (Django's connections load jsonb as text); pass decoded values through."""
    if not isinstance(value, str):
        return value
    if value == "[]":
        return []
    if value == "{}":
        return {}
    try:
        return orjson.loads(value)  # several times faster on the documents' text
    except orjson.JSONDecodeError:
        return json.loads(value)  # what orjson refuses (integers beyond 64 bits) the stdlib reads


def subjects_build(*, trace_pks: Sequence[int]) -> dict[int, Subject]:
    """Return each trace flattened for evaluation, in one round trip (traces, span kinds, LLM/retrieval spans)."""
    if not trace_pks:
        return {}
    traces, kinds, spans = trace_evaluation_rows(trace_pks=trace_pks)  # traces owns its tables' SQL
    subjects: dict[int, Subject] = {}
    for pk, trace_id, input_text, output_text, route, model, prompt_version, environment, tags in traces:
        subjects[pk] = Subject(
            trace_id=trace_id,
            input=input_text,
            output=output_text,
            route=route,
            model=model,
            prompt_version=prompt_version,
            environment=environment,
            tags=list(tags),
        )
    for trace_pk, kind in kinds:
        subjects[trace_pk].span_kinds.add(kind)
    first_llm_input: dict[int, str] = {}
    for (trace_pk, kind, input_text, output_text, system_instructions, documents, retrieval_query, output_messages,
         tool_definitions, finish_reasons, request_params, output_type) in spans:  # fmt: skip
        subject = subjects[trace_pk]
        documents = _json(documents)
        if documents:
            subject.documents.extend(
                Document(id=str(d.get("id") or ""), content=str(d.get("content") or ""), score=d.get("score"))
                for d in documents
                if isinstance(d, dict)
            )
            subject.retrieval_query = subject.retrieval_query or retrieval_query
        if kind != "llm":
            continue
        first_llm_input.setdefault(trace_pk, input_text)
        subject.system_prompt = subject.system_prompt or system_instructions
        # Messages without a tool call part cannot yield one: skip decoding them (jsonb prints strings verbatim).
        if not isinstance(output_messages, str) or '"tool_call"' in output_messages:
            subject.tool_calls.extend(_tool_calls(_json(output_messages)))
        subject.tool_definitions.extend(d for d in _json(tool_definitions) if isinstance(d, dict))
        subject.finish_reason = (_json(finish_reasons) or [""])[-1]  # spans come in start order: the last wins
        subject.expects_json = subject.expects_json or _asks_for_json(
            _json(request_params), {"gen_ai.output.type": output_type}
        )
        if output_text:
            subject.output = subject.output or output_text
    for pk, text in first_llm_input.items():
        subjects[pk].input = subjects[pk].input or text
    return subjects


def evaluator_list(*, project: Project, enabled_only: bool = False) -> QuerySet[Evaluator]:
    """Return the project's evaluators by name."""
    qs = Evaluator.objects.filter(project=project).select_related("judge")
    return qs.filter(is_enabled=True) if enabled_only else qs.order_by("name")


def evaluator_get(*, project: Project, evaluator_id: int) -> Evaluator | None:
    """Return one evaluator of the project."""
    return Evaluator.objects.filter(project=project, id=evaluator_id).select_related("judge").first()


def evaluator_pass_rates(*, project: Project, hours: int = 24) -> dict[str, dict[str, Any]]:
    """Return per evaluator (by name and current version) the count, pass rate and mean over the last hours."""
    since = timezone.now() - timedelta(hours=hours)
    # Only what evaluators produce: scores sent from outside (external, human, feedback, offline) may share a name.
    sources = [Score.Source.PROGRAMMATIC, Score.Source.JUDGE]
    rates = score_rates_by_version(project=project, since=since, sources=sources)
    return {f"{name}@{version}": figures for (name, version), figures in rates.items()}


@dataclass(frozen=True)
class VersionFigures:
    """One evaluator version's scores in the window: its short label, full hash, count, pass rate and mean."""

    version: str
    label: str
    is_current: bool
    count: int
    pass_rate: float | None
    mean: float | None

    @property
    def pass_pct(self) -> float | None:
        return None if self.pass_rate is None else 100 * self.pass_rate


@dataclass
class EvaluatorFigures:
    """An evaluators-page row: the evaluator, its declaration, and its figures per version (current first)."""

    evaluator: Evaluator
    spec: MetricSpec
    versions: list[VersionFigures]
    version_label: str  # the current version's short label
    previous_label: str = ""  # the latest change's previous version, short

    @property
    def has_scores(self) -> bool:
        return any(v.count for v in self.versions)


MAX_VERSIONS_SHOWN = 3


def evaluator_list_figures(*, project: Project, hours: int = 24) -> list[EvaluatorFigures]:
    """Return the evaluators page's rows: each evaluator's declaration and the window's figures of its current
    version and of older versions still scored in the window (an edit does not blank the row)."""
    evaluators = list(evaluator_list(project=project))
    rates = evaluator_pass_rates(project=project, hours=hours)
    history = _version_history([ev.id for ev in evaluators])
    rows = []
    for ev in evaluators:
        versions = history.get(ev.id, [])
        spec = _evaluator_spec(ev, versions)
        ev.latest_change = next((v for v in reversed(versions) if v.previous_version), None)
        shown = [ev.version] + [v for v in reversed(spec.versions) if v != ev.version and f"{ev.name}@{v}" in rates]
        figures = []
        for version in shown[:MAX_VERSIONS_SHOWN]:
            stats = rates.get(f"{ev.name}@{version}") or {"count": 0, "pass_rate": None, "mean": None}
            figures.append(
                VersionFigures(
                    version=version,
                    label=spec.version_label(version),
                    is_current=version == ev.version,
                    count=stats["count"],
                    pass_rate=stats["pass_rate"],
                    mean=stats["mean"],
                )
            )
        change = ev.latest_change
        rows.append(
            EvaluatorFigures(
                evaluator=ev,
                spec=spec,
                versions=figures,
                version_label=spec.version_label(ev.version),
                previous_label=spec.version_label(change.previous_version) if change else "",
            )
        )
    return rows


def backfill_get(*, project: Project, backfill_id: int) -> Backfill | None:
    """Return one backfill of the project."""
    return Backfill.objects.filter(project=project, id=backfill_id).select_related("evaluator").first()


def backfill_list(*, project: Project, evaluator: Evaluator | None = None, limit: int = 10) -> list[Backfill]:
    """Return recent backfills, newest first."""
    qs = Backfill.objects.filter(project=project).select_related("evaluator")
    if evaluator is not None:
        qs = qs.filter(evaluator=evaluator)
    return list(qs.order_by("-created_at")[:limit])


def sampled(*, trace_id: str, evaluator_name: str, rate: float) -> bool:
    """Decide deterministically from the trace id whether a trace is in an evaluator's sample."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(f"{evaluator_name}:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def config_version(*, kind: str, config: dict[str, Any], extra: str = "") -> str:
    """Return a short hash of what an evaluator computes (kind, config, judge pin, rubric version)."""
    fields: dict[str, Any] = {"kind": kind, "config": config, "extra": extra}
    logic = check_logic_version(kind)
    # The initial logic stays out of the hash so evaluators saved before logic versions keep their version.
    if logic != INITIAL_LOGIC_VERSION:
        fields["logic"] = logic
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def check_logic_version(kind: str) -> str:
    """Return the logic version of a programmatic check kind ("" for judges)."""
    check = CHECKS.get(kind)
    if check is None:
        return ""
    return getattr(check, "logic_version", INITIAL_LOGIC_VERSION)  # a stand-in check in tests may not declare one


def evaluator_version_expected(*, evaluator: Evaluator) -> str | None:
    """Return the version this code computes for a programmatic evaluator (None for judges, whose pin decides)."""
    if evaluator.kind not in CHECKS:
        return None
    return config_version(kind=evaluator.kind, config=evaluator.config)


def evaluator_version_list(*, project: Project, since: datetime, until: datetime) -> list[EvaluatorVersion]:
    """Return the version changes (not creations) of the project's evaluators in a time range, oldest first."""
    return list(
        EvaluatorVersion.objects.filter(project=project, created_at__gte=since, created_at__lt=until)
        .exclude(previous_version="")
        .select_related("evaluator")
        .order_by("created_at", "id")
    )


def evaluator_version_history(*, project: Project, evaluator: Evaluator, limit: int = 20) -> list[EvaluatorVersion]:
    """Return an evaluator's recorded versions, newest first."""
    rows = EvaluatorVersion.objects.filter(project=project, evaluator=evaluator).order_by("-created_at", "-id")
    return list(rows[:limit])


def judge_request_failed_list(*, project: Project) -> QuerySet[JudgeRequest]:
    """Return the project's judge requests that failed for good, newest first (dead letters)."""
    return (
        JudgeRequest.objects.filter(project=project, status=JudgeRequest.Status.FAILED)
        .select_related("evaluator")
        .order_by("-finished_at", "-id")
    )


def judge_scale(config: dict[str, Any]) -> str:
    """The scale an llm_judge config grades on (as services.rubric_for resolves it): binary or likert5."""
    name = config.get("rubric") or ""
    if name in BUILTIN_RUBRICS and not config.get("criteria"):
        return config.get("scale") or BUILTIN_RUBRICS[name].scale
    return config.get("scale") or "binary"


def _value_declaration(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """What a score's value means for an evaluator kind, as the check (or the judge's scale) declares it."""
    check = CHECKS.get(kind)
    if check is not None:
        return {
            "value_direction": check.value_direction,
            "value_unit": check.value_unit,
            "value_labels": tuple(check.value_labels),
            "mean_informative": check.mean_informative,
        }
    unit, labels, informative = SCALE_VALUES.get(judge_scale(config or {}), SCALE_VALUES["binary"])
    return {
        "value_direction": Direction.HIGHER_IS_BETTER,
        "value_unit": unit,
        "value_labels": labels,
        "mean_informative": informative,
    }


def _version_history(evaluator_ids: Sequence[int]) -> dict[int, list[EvaluatorVersion]]:
    """Per evaluator, its recorded versions oldest first (one query)."""
    history: dict[int, list[EvaluatorVersion]] = {}
    rows = EvaluatorVersion.objects.filter(evaluator_id__in=list(evaluator_ids)).order_by(
        "evaluator_id", "created_at", "id"
    )
    for row in rows:
        history.setdefault(row.evaluator_id, []).append(row)
    return history


def _version_order(history: list[EvaluatorVersion], current: str) -> tuple[str, ...]:
    """An evaluator's versions oldest first, each once (a version it returns to keeps its first number)."""
    seen: list[str] = []
    for v in [x for row in history for x in (row.previous_version, row.version)] + [current]:
        if v and v not in seen:
            seen.append(v)
    return tuple(seen)


def _evaluator_spec(evaluator: Evaluator, history: list[EvaluatorVersion]) -> MetricSpec:
    """The declaration of the metric one evaluator writes."""
    return MetricSpec(
        name=evaluator.name,
        kind=MetricKind.BINARY,
        direction=Direction.HIGHER_IS_BETTER,
        unit="%",
        label=f"{evaluator.name} ({dict(Evaluator.Kind.choices).get(evaluator.kind, evaluator.kind)}): pass rate",
        source="evaluator",
        judged=evaluator.kind == Evaluator.Kind.LLM_JUDGE,
        versions=_version_order(history, evaluator.version),
        **_value_declaration(evaluator.kind, evaluator.config),
    )


def evaluator_metric_specs(project_id: int, names: Iterable[str] | None) -> dict[str, MetricSpec]:
    """Declare the metrics the project's evaluators write (these names, or every enabled evaluator's when None):
    pass rates, higher is better, with what one score's value means (from the check or judge scale) and the
    evaluator's versions for short labels. Registered with scores' declaration registry."""
    evaluators = Evaluator.objects.filter(project_id=project_id)
    evaluators = evaluators.filter(is_enabled=True) if names is None else evaluators.filter(name__in=list(names))
    rows = list(evaluators.only("id", "name", "kind", "config", "version"))
    history = _version_history([ev.id for ev in rows])
    return {ev.name: _evaluator_spec(ev, history.get(ev.id, [])) for ev in rows}
