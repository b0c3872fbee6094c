"""Writes for judges: pinned configurations, their secrets, and building the client for one."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from apps.core.jobs import Claim, Outcome, RowJob, job_claim, job_finish, job_mark_sent, job_release, job_sweep
from apps.core.outbound import OutboundRefused, outbound_url_check
from apps.core.prune import rows_delete_in_batches
from apps.core.queue import task_enqueue
from apps.feedback.inference.embeddings import EmbeddingsUnavailable
from apps.judges.llm import (
    JudgeConfig,
    JudgeError,
    JudgeInput,
    JudgeOutputInvalid,
    JudgeUnavailable,
    OpenAIEmbeddings,
    OpenAIJudge,
)
from apps.judges.models import Judge, JudgePreview, JudgeRequest, JudgeVersion
from apps.judges.rubrics import SCALES, Rubric, custom_rubric
from apps.judges.secrets import secret_decrypt, secret_encrypt
from apps.projects.models import Project

# Judges may read only variables an operator named for them: never SECRET_KEY, DATABASE_URL, ...
JUDGE_KEY_ENV_PREFIX = "SIGHTLINE_JUDGE_KEY_"


def judge_key_env_check(name: str) -> str:
    """Return the stripped variable name, or raise ValidationError naming api_key_env."""
    name = name.strip()
    if name and (not name.startswith(JUDGE_KEY_ENV_PREFIX) or name == JUDGE_KEY_ENV_PREFIX):
        raise ValidationError(
            {
                "api_key_env": f"must name an environment variable starting with {JUDGE_KEY_ENV_PREFIX}, e.g. "
                f"{JUDGE_KEY_ENV_PREFIX}OPENAI; or store the key encrypted instead"
            }
        )
    return name


def judge_base_url_check(base_url: str) -> str:
    """Return the base URL without a trailing slash, or raise ValidationError naming base_url.

    http(s) only; a host resolving to a private, loopback, link-local or metadata address is refused
    unless listed in settings.JUDGE_ALLOWED_HOSTS. Calls are checked again at connect time.
    """
    base_url = base_url.strip().rstrip("/")
    try:
        outbound_url_check(base_url, allowed_hosts=settings.JUDGE_ALLOWED_HOSTS)
    except OutboundRefused as exc:
        raise ValidationError({"base_url": str(exc)}) from exc
    return base_url


def judge_create(
    *,
    project: Project,
    name: str,
    base_url: str,
    model: str,
    api_key: str = "",
    api_key_env: str = "",
    timeout_s: float = 30.0,
    input_price_per_mtok: float | None = None,
    output_price_per_mtok: float | None = None,
    **settings_: Any,
) -> Judge:
    """Pin a judge: endpoint, exact model, and where its API key comes from (env var, or stored encrypted).

    `settings_` may set the calibration rubric and parameters (JUDGE_TUNABLE_FIELDS); the judge starts at version 1.
    """
    if not model.strip():
        raise ValidationError({"model": "pin the judge's model exactly, e.g. gpt-4o-2024-08-06"})
    if Judge.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a judge named {name!r} exists already"})
    if timeout_s <= 0:
        raise ValidationError({"timeout_s": "must be positive"})
    api_key_env = judge_key_env_check(api_key_env)
    base_url = judge_base_url_check(base_url)
    tunable = _tunable_clean({k: v for k, v in settings_.items() if v is not None})
    with transaction.atomic():
        judge = Judge.objects.create(
            project=project,
            name=name,
            base_url=base_url,
            model=model.strip(),
            api_key_env=api_key_env,
            api_key_encrypted=secret_encrypt(api_key) if api_key else "",
            timeout_s=timeout_s,
            input_price_per_mtok=input_price_per_mtok,
            output_price_per_mtok=output_price_per_mtok,
            **tunable,
        )
        _version_add(judge, status=JudgeVersion.Status.CURRENT, note="created")
    return judge


# -- versions ----------------------------------------------------------------------------------------------------------

# Changing any of these changes what a verdict means: a new judge version.
VERSIONED_FIELDS = (
    "base_url",
    "model",
    "rubric_criteria",
    "scale",
    "pass_threshold",
    "temperature",
    "max_tokens",
    "timeout_s",
)
# Settable at creation beside the endpoint (validated by _tunable_clean).
JUDGE_TUNABLE_FIELDS = ("rubric_criteria", "scale", "pass_threshold", "temperature", "max_tokens", "regression_margin")

# Called with a judge's id whenever its current version changes (apps.evaluators re-derives its evaluator
# versions: judges sits below evaluators and cannot import it, so evaluators registers at startup).
_VERSION_LISTENERS: list[Callable[[int], None]] = []


def judge_version_listener_register(listener: Callable[[int], None]) -> None:
    """Register a callable told (in the same transaction) that a judge's current version changed."""
    if listener not in _VERSION_LISTENERS:
        _VERSION_LISTENERS.append(listener)


def _tunable_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate rubric and parameter fields, raising ValidationError naming the field; return them cleaned."""
    out = dict(fields)
    if "rubric_criteria" in out:
        out["rubric_criteria"] = str(out["rubric_criteria"] or "").strip()
        if not out["rubric_criteria"]:
            raise ValidationError({"rubric_criteria": "must not be empty"})
    if "scale" in out and out["scale"] not in SCALES:
        raise ValidationError({"scale": f"must be one of {', '.join(SCALES)}"})
    if "temperature" in out and not 0.0 <= float(out["temperature"]) <= 2.0:
        raise ValidationError({"temperature": "must be between 0 and 2"})
    if "max_tokens" in out and not 1 <= int(out["max_tokens"]) <= 4000:
        raise ValidationError({"max_tokens": "must be between 1 and 4000"})
    if "regression_margin" in out and not 0.0 < float(out["regression_margin"]) <= 2.0:
        raise ValidationError({"regression_margin": "must be above 0 and at most 2 (a drop of Cohen's kappa)"})
    if "timeout_s" in out and not 0 < float(out["timeout_s"]) <= 600:
        raise ValidationError({"timeout_s": "must be positive, at most 600"})
    return out


def judge_rubric_check(*, criteria: str, scale: str, pass_threshold: int | None) -> Rubric:
    """Return the calibration rubric of these fields, or raise ValidationError naming the bad one."""
    try:
        return custom_rubric("overall", criteria, scale, pass_threshold=pass_threshold)
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        field_name = {"criteria": "rubric_criteria", "pass_threshold": "pass_threshold"}.get(name, "scale")
        raise ValidationError({field_name: message or str(exc)}) from exc


def _material(source: Judge) -> dict[str, Any]:
    """Return (base_url, model, rubric, params) of a judge row as a version stores them."""
    return {
        "base_url": source.base_url,
        "model": source.model,
        "rubric": {
            "criteria": source.rubric_criteria,
            "scale": source.scale,
            "pass_threshold": source.pass_threshold,
        },
        "params": {
            "temperature": source.temperature,
            "max_tokens": source.max_tokens,
            "timeout_s": source.timeout_s,
        },
    }


def _version_add(judge: Judge, *, status: str, note: str, material: dict[str, Any] | None = None) -> JudgeVersion:
    """Store the next version of a judge (the judge row locked by the caller's transaction)."""
    number = (JudgeVersion.objects.filter(judge=judge).aggregate(n=Max("number"))["n"] or 0) + 1
    version = JudgeVersion.objects.create(
        project_id=judge.project_id,
        judge=judge,
        number=number,
        status=status,
        note=note[:200],
        promoted_at=timezone.now() if status == JudgeVersion.Status.CURRENT else None,
        **(material or _material(judge)),
    )
    transaction.on_commit(lambda: _calibrate_new_version(version.id))
    return version


def _calibrate_new_version(version_id: int) -> None:
    """Calibrate a new version at once (the calibration module sits beside this one)."""
    from apps.judges.calibration import calibration_start

    version = JudgeVersion.objects.filter(id=version_id).select_related("judge").first()
    # The embeddings endpoint of implicit feedback (FEEDBACK_EMBEDDINGS_JUDGE) is a Judge row that grades nothing.
    if version is not None and version.judge.name != settings.FEEDBACK_EMBEDDINGS_JUDGE:
        calibration_start(judge_version=version, trigger="version")


def _version_changed(judge_id: int) -> None:
    for listener in _VERSION_LISTENERS:
        listener(judge_id)


def judge_update(*, judge: Judge, shadow: bool = False, **fields: Any) -> tuple[Judge, JudgeVersion | None]:
    """Edit a judge; return it and the version the edit made (None when nothing it computes with changed).

    A change to the endpoint, model, rubric or parameters makes a new version: current at once, or with
    `shadow=True` a shadow version, calibrated beside the current one until a person promotes it. Name, key,
    prices, regression margin and is_active change the judge without a new version. Every version is calibrated
    at once after commit.
    """
    nullable = ("pass_threshold", "input_price_per_mtok", "output_price_per_mtok")  # null clears these
    fields = {k: v for k, v in fields.items() if v is not None or k in nullable}
    if "model" in fields:
        fields["model"] = str(fields["model"]).strip()
        if not fields["model"]:
            raise ValidationError({"model": "pin the judge's model exactly, e.g. gpt-4o-2024-08-06"})
    if "name" in fields:
        fields["name"] = str(fields["name"]).strip()
        if not fields["name"]:
            raise ValidationError({"name": "must not be empty"})
        if Judge.objects.filter(project_id=judge.project_id, name=fields["name"]).exclude(id=judge.id).exists():
            raise ValidationError({"name": f"a judge named {fields['name']!r} exists already"})
    if "base_url" in fields:
        fields["base_url"] = judge_base_url_check(fields["base_url"])
    if "api_key_env" in fields:
        fields["api_key_env"] = judge_key_env_check(fields["api_key_env"])
    api_key = fields.pop("api_key", None)
    fields = _tunable_clean(fields)
    draft = Judge(
        **{
            **{f: getattr(judge, f) for f in VERSIONED_FIELDS},
            **{f: fields[f] for f in VERSIONED_FIELDS if f in fields},
        }
    )
    if draft.scale == "binary" and "scale" in fields and "pass_threshold" not in fields:
        draft.pass_threshold = None  # a threshold belongs to likert5 only
    judge_rubric_check(criteria=draft.rubric_criteria, scale=draft.scale, pass_threshold=draft.pass_threshold)
    with transaction.atomic():
        judge = Judge.objects.select_for_update().get(id=judge.id)
        current = JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT).first()
        material = _material(draft)
        version = None
        changed = current is None or any(material[k] != getattr(current, k) for k in material)
        if changed and shadow:
            version = _version_add(judge, status=JudgeVersion.Status.SHADOW, note="shadow", material=material)
        plain = {k: v for k, v in fields.items() if k not in VERSIONED_FIELDS}
        if api_key:
            plain["api_key_encrypted"] = secret_encrypt(api_key)
        if changed and not shadow:
            plain.update({f: getattr(draft, f) for f in VERSIONED_FIELDS})
        for key, value in plain.items():
            setattr(judge, key, value)
        judge.save()
        if changed and not shadow:
            JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT).update(
                status=JudgeVersion.Status.RETIRED
            )
            version = _version_add(judge, status=JudgeVersion.Status.CURRENT, note="edited")
            _version_changed(judge.id)
    return judge, version


def judge_version_promote(*, judge: Judge, number: int) -> JudgeVersion:
    """Make a shadow (or retired) version current: the judge row takes its fields, the old current retires."""
    with transaction.atomic():
        judge = Judge.objects.select_for_update().get(id=judge.id)
        version = JudgeVersion.objects.filter(judge=judge, number=number).first()
        if version is None:
            raise ValidationError({"version": f"judge {judge.name!r} has no version {number}"})
        if version.status == JudgeVersion.Status.CURRENT:
            return version
        JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT).update(
            status=JudgeVersion.Status.RETIRED
        )
        JudgeVersion.objects.filter(id=version.id).update(
            status=JudgeVersion.Status.CURRENT, promoted_at=timezone.now()
        )
        judge.base_url, judge.model = version.base_url, version.model
        judge.rubric_criteria = version.rubric.get("criteria", judge.rubric_criteria)
        judge.scale = version.rubric.get("scale", judge.scale)
        judge.pass_threshold = version.rubric.get("pass_threshold")
        for key in ("temperature", "max_tokens", "timeout_s"):
            if key in version.params:
                setattr(judge, key, version.params[key])
        judge.save()
        _version_changed(judge.id)
    version.refresh_from_db()
    return version


def judge_version_current(*, judge: Judge) -> JudgeVersion:
    """Return the judge's current version, creating version 1 for a judge pinned before versions existed."""
    version = JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT).first()
    if version is not None:
        return version
    with transaction.atomic():
        Judge.objects.select_for_update().filter(id=judge.id).first()
        version = JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT).first()
        return version or _version_add(judge, status=JudgeVersion.Status.CURRENT, note="first recorded")


def model_mismatch(*, pinned: str, reported: str) -> bool:
    """Whether the endpoint says another model answered than the pinned one (an empty answer is not flagged)."""
    return bool(reported) and reported.strip() != pinned.strip()


def judge_judgment_count(*, version_id: int, model_pinned: str, model_reported: str) -> bool:
    """Count one judgment of a version, and a model mismatch when the response named another model; return it."""
    mismatch = model_mismatch(pinned=model_pinned, reported=model_reported)
    changes: dict[str, Any] = {"judged_count": F("judged_count") + 1}
    if mismatch:
        changes.update(mismatch_count=F("mismatch_count") + 1, last_mismatch_model=model_reported[:200])
    JudgeVersion.objects.filter(id=version_id).update(**changes)
    return mismatch


def judge_config_for_version(version: JudgeVersion) -> JudgeConfig:
    """Return how to reach a judge version: its own URL, model and parameters, and the judge's key."""
    params = version.params
    return JudgeConfig(
        base_url=version.base_url,
        api_key=judge_api_key(version.judge) or "no-key",
        model=version.model,
        timeout_s=float(params.get("timeout_s", 30.0)),
        temperature=float(params.get("temperature", 0.0)),
        max_tokens=int(params.get("max_tokens", 400)),
        input_price_per_mtok=version.judge.input_price_per_mtok,
        output_price_per_mtok=version.judge.output_price_per_mtok,
        allowed_hosts=tuple(settings.JUDGE_ALLOWED_HOSTS),
    )


def judge_version_rubric(version: JudgeVersion) -> Rubric:
    """Return the calibration rubric a version grades with."""
    rubric = version.rubric
    return custom_rubric(
        "overall",
        rubric.get("criteria", ""),
        rubric.get("scale", "binary"),
        pass_threshold=rubric.get("pass_threshold"),
    )


@dataclass(frozen=True)
class ConnectionTest:
    """What one real request to a judge's endpoint answered."""

    ok: bool
    model_pinned: str
    model_reported: str = ""
    is_model_mismatch: bool = False
    label: str = ""
    reason: str = ""
    latency_ms: int | None = None
    error: str = ""
    error_kind: str = ""  # "transient" (429, 5xx, timeout, network) or "permanent" (bad answer, other 4xx, refused)


CONNECTION_TEST_ITEM = JudgeInput(question="What is the capital of France?", answer="Paris is the capital of France.")


def judge_connection_test(*, judge: Judge, number: int | None = None) -> ConnectionTest:
    """Send one real grading request to the judge's endpoint (its current version, or version `number`)."""
    version = (
        JudgeVersion.objects.filter(judge=judge, number=number).select_related("judge").first()
        if number is not None
        else judge_version_current(judge=judge)
    )
    if version is None:
        raise ValidationError({"version": f"judge {judge.name!r} has no version {number}"})
    version.judge = judge
    config = judge_config_for_version(version)
    client = OpenAIJudge(config)
    try:
        verdict = client.grade(rubric=judge_version_rubric(version), item=CONNECTION_TEST_ITEM)
    except JudgeError as exc:
        kind = "transient" if isinstance(exc, JudgeUnavailable) else "permanent"
        return ConnectionTest(ok=False, model_pinned=config.model, error=str(exc)[:1000], error_kind=kind)
    finally:
        client.close()
    return ConnectionTest(
        ok=True,
        model_pinned=config.model,
        model_reported=verdict.model_reported,
        is_model_mismatch=model_mismatch(pinned=config.model, reported=verdict.model_reported),
        label=verdict.label,
        reason=verdict.reason,
        latency_ms=verdict.latency_ms,
    )


def judge_api_key(judge: Judge) -> str:
    """Return the judge's API key: a SIGHTLINE_JUDGE_KEY_* variable wins over the stored secret.

    Rows saved before the prefix rule may name any variable: such a name is ignored, never read.
    """
    env_name = judge.api_key_env
    if env_name.startswith(JUDGE_KEY_ENV_PREFIX) and env_name != JUDGE_KEY_ENV_PREFIX and os.environ.get(env_name):
        return os.environ[env_name]
    if judge.api_key_encrypted:
        return secret_decrypt(judge.api_key_encrypted)
    return ""


def judge_config_for(judge: Judge) -> JudgeConfig:
    """Return how to reach a pinned judge's endpoint: its URL, key, model, timeout, prices and allowed hosts."""
    return JudgeConfig(
        base_url=judge.base_url,
        api_key=judge_api_key(judge) or "no-key",
        model=judge.model,
        timeout_s=judge.timeout_s,
        temperature=judge.temperature,
        max_tokens=judge.max_tokens,
        input_price_per_mtok=judge.input_price_per_mtok,
        output_price_per_mtok=judge.output_price_per_mtok,
        # A refused address surfaces from grade() as JudgeOutputInvalid (permanent, recorded on the row).
        allowed_hosts=tuple(settings.JUDGE_ALLOWED_HOSTS),
    )


def judge_client_for(judge: Judge) -> OpenAIJudge:
    """Build the guarded OpenAI-compatible client for a pinned judge (connections checked, no redirects)."""
    return OpenAIJudge(judge_config_for(judge))


class JudgeEmbedder:
    """The feedback app's Embedder over a judge endpoint: judge errors become EmbeddingsUnavailable."""

    def __init__(self, client: OpenAIEmbeddings) -> None:
        self.client = client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text, or raise EmbeddingsUnavailable (transient for JudgeUnavailable)."""
        try:
            return self.client.embed(texts)
        except JudgeError as exc:
            raise EmbeddingsUnavailable(str(exc), transient=isinstance(exc, JudgeUnavailable)) from exc

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.client.close()


def judge_embedder_for_project(*, project_id: int) -> JudgeEmbedder | None:
    """Return an embedder for the project's active judge named FEEDBACK_EMBEDDINGS_JUDGE, or None if it has none.

    That judge is configured like any other (base URL, key from a SIGHTLINE_JUDGE_KEY_* variable or stored
    encrypted, timeout, JUDGE_ALLOWED_HOSTS); its model is the embeddings model, e.g. text-embedding-3-small.
    """
    name = settings.FEEDBACK_EMBEDDINGS_JUDGE
    judge = Judge.objects.filter(project_id=project_id, name=name, is_active=True).first() if name else None
    if judge is None:
        return None
    return JudgeEmbedder(OpenAIEmbeddings(judge_config_for(judge)))


JUDGE_PREVIEW_JOB = RowJob(
    model=JudgePreview,
    time_limit=settings.JUDGE_PREVIEW_TIME_LIMIT,
    in_flight=60,
    max_attempts=2,
)


def judge_preview_start(
    *, project: Project, judge: Judge, rubric: Rubric, items: Sequence[tuple[int, str, JudgeInput]]
) -> JudgePreview:
    """Queue a "Try it" run of a rubric on a few traces ((trace pk, trace id, input) each); nothing is stored as a score."""
    preview = JudgePreview.objects.create(
        project=project,
        judge=judge,
        rubric={f: getattr(rubric, f) for f in ("name", "scale", "criteria", "requires_context", "pass_threshold")},
        items=[{"trace_pk": pk, "trace_id": tid, **asdict(item)} for pk, tid, item in items],
    )
    transaction.on_commit(lambda: judge_preview_enqueue(preview_id=preview.id))
    return preview


def judge_preview_enqueue(*, preview_id: int) -> bool:
    """Send the preview's job; a broker outage marks it unsent for the sweeper."""
    from apps.judges.tasks import judge_preview_run_task

    if task_enqueue(judge_preview_run_task, preview_id):
        return True
    job_mark_sent(JUDGE_PREVIEW_JOB, row_ids=[preview_id], sent=False)
    return False


def judge_preview_run(*, preview_id: int) -> Claim:
    """Grade each item of a preview with its judge, recording a verdict or an error per item."""
    claim = job_claim(JUDGE_PREVIEW_JOB, row_id=preview_id)
    if claim.outcome is not Outcome.CLAIMED:
        return claim
    preview = JudgePreview.objects.select_related("judge").get(id=preview_id)
    rubric = Rubric(**preview.rubric)
    client = judge_client_for(preview.judge)
    results = []
    try:
        for item in preview.items:
            judge_input = JudgeInput(**{k: item[k] for k in ("question", "answer", "contexts", "system_prompt")})
            shown = {"trace_id": item["trace_id"], "answer": item["answer"][:500]}
            try:
                verdict = client.grade(rubric=rubric, item=judge_input)
            except (JudgeUnavailable, JudgeOutputInvalid) as exc:
                results.append({**shown, "error": str(exc)[:500]})
                continue
            results.append(
                {
                    **shown,
                    "label": verdict.label,
                    "score": verdict.score,
                    "passed": verdict.passed,
                    "reason": verdict.reason,
                }
            )
    except Exception as exc:
        # A soft time limit (or anything unexpected) hands the row back and propagates: never swallowed.
        job_release(JUDGE_PREVIEW_JOB, row_id=preview_id, token=claim.token, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        client.close()
    job_finish(JUDGE_PREVIEW_JOB, row_id=preview_id, token=claim.token, results=results, finished_at=timezone.now())
    return claim


def judge_previews_sweep(*, limit: int = 100) -> list[int]:
    """Send jobs for previews with none in flight (broker outage, dead worker)."""
    return job_sweep(
        JUDGE_PREVIEW_JOB, send=lambda preview_id: judge_preview_enqueue(preview_id=preview_id), limit=limit
    )


# Previews answer the admin who is looking at the page; a day later nobody is.
JUDGE_PREVIEW_RETENTION = timedelta(days=1)


def judge_requests_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete done and discarded judge requests older than BOOKKEEPING_RETENTION_DAYS; failed ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BOOKKEEPING_RETENTION_DAYS)
    finished = JudgeRequest.objects.filter(
        status__in=[JudgeRequest.Status.DONE, JudgeRequest.Status.DISCARDED], created_at__lt=cutoff
    )
    return rows_delete_in_batches(finished, budget_seconds=budget_seconds)


def judge_previews_prune(*, now: datetime | None = None, budget_seconds: float = 60.0) -> int:
    """Delete judge previews older than a day, whatever their status (a preview's job ends within minutes)."""
    cutoff = (now or timezone.now()) - JUDGE_PREVIEW_RETENTION
    return rows_delete_in_batches(JudgePreview.objects.filter(created_at__lt=cutoff), budget_seconds=budget_seconds)
