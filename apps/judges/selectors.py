"""Reads for judges: the judges, their versions, and how each version agrees with people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, QuerySet

from apps.judges.models import (
    AgreementDay,
    CalibrationRun,
    CalibrationVerdict,
    Judge,
    JudgePreview,
    JudgeVersion,
    ShadowVerdict,
)
from apps.projects.models import Project
from apps.review.agreement import BinaryAgreement, binary_agreement

RANDOM, ROUTED = CalibrationVerdict.Sample.RANDOM.value, CalibrationVerdict.Sample.ROUTED.value
SAMPLES = (RANDOM, ROUTED)


def judge_list(*, project: Project) -> QuerySet[Judge]:
    """Return the project's judges by name, with how many evaluators use each."""
    return Judge.objects.filter(project=project).annotate(evaluator_count=Count("evaluators")).order_by("name")


def judge_get(*, project: Project, judge_id: int) -> Judge | None:
    """Return one of the project's judges, or None."""
    return Judge.objects.filter(project=project, id=judge_id).first()


def judge_preview_get(*, project: Project, preview_id: int) -> JudgePreview | None:
    """Return one of the project's judge previews, or None."""
    return JudgePreview.objects.filter(project=project, id=preview_id).select_related("judge").first()


def judge_get_by_name(*, project: Project, name: str) -> Judge | None:
    """Return the project's judge of that name, or None."""
    return Judge.objects.filter(project=project, name=name).first()


def judge_version_list(*, judge: Judge) -> list[JudgeVersion]:
    """Return a judge's versions, newest first."""
    return list(JudgeVersion.objects.filter(judge=judge).order_by("-number"))


def judge_version_number(*, judge: Judge) -> int:
    """Return the number of the judge's current version (1 for a judge pinned before versions existed)."""
    if judge.pk is None:
        return 1
    number = (
        JudgeVersion.objects.filter(judge=judge, status=JudgeVersion.Status.CURRENT)
        .values_list("number", flat=True)
        .first()
    )
    return number or 1


def judge_version_get(*, judge: Judge, number: int) -> JudgeVersion | None:
    """Return one version of a judge by number, or None."""
    return JudgeVersion.objects.filter(judge=judge, number=number).first()


def calibration_run_latest(*, judge_version: JudgeVersion) -> CalibrationRun | None:
    """Return the version's most recent calibration run, or None."""
    return CalibrationRun.objects.filter(judge_version=judge_version).order_by("-created_at", "-id").first()


def calibration_run_get(*, project: Project, run_id: int) -> CalibrationRun | None:
    """Return one of the project's calibration runs, or None."""
    return CalibrationRun.objects.filter(project=project, id=run_id).select_related("judge_version__judge").first()


@dataclass(frozen=True)
class AgreementPair:
    """One human-labeled trace with a judge version's calibration verdict on it (the unit of agreement)."""

    trace_pk: int
    trace_id: str
    sample: str
    human_passed: bool
    judge_passed: bool
    judged_at: datetime


def agreement_pairs(
    *, project: Project, judge_version: JudgeVersion, sample: str | None = RANDOM
) -> list[AgreementPair]:
    """Return human labels joined to the version's verdicts (random calibration sample by default; None = all).

    Only usable verdicts: a trace the judge failed to grade is left out. With the default sample this is the
    labeled part of prediction-powered inference: the human − judge difference on a representative sample.
    """
    rows = CalibrationVerdict.objects.filter(
        project=project, judge_version=judge_version, judge_passed__isnull=False
    ).order_by("judged_at", "id")
    if sample is not None:
        rows = rows.filter(sample=sample)
    return [
        AgreementPair(r[0], r[1], r[2], r[3], r[4], r[5])
        for r in rows.values_list("trace_pk", "trace_id", "sample", "human_passed", "judge_passed", "judged_at")
    ]


def judge_agreement(*, judge_version: JudgeVersion) -> dict[str, BinaryAgreement]:
    """Return the version's agreement over its whole calibration set, per sample (random is the primary one)."""
    pairs: dict[str, list[tuple[bool, bool]]] = {s: [] for s in SAMPLES}
    verdicts = CalibrationVerdict.objects.filter(judge_version=judge_version, judge_passed__isnull=False)
    for sample, judge_passed, human_passed in verdicts.values_list("sample", "judge_passed", "human_passed"):
        pairs[sample].append((judge_passed, human_passed))
    return {sample: binary_agreement(p) for sample, p in pairs.items()}


def judge_agreement_series(*, judge_version: JudgeVersion) -> list[AgreementDay]:
    """Return the version's daily agreement rows, oldest first (random before routed on a day)."""
    return list(AgreementDay.objects.filter(judge_version=judge_version).order_by("day", "sample"))


@dataclass(frozen=True)
class LiveComparison:
    """A shadow version against the current one on the live sample: how often they agree, and each pass rate."""

    n: int
    agreement: BinaryAgreement  # shadow as the rater, the current version as the reference
    shadow_pass_rate: float | None
    current_pass_rate: float | None


def shadow_live_comparison(*, judge_version: JudgeVersion) -> LiveComparison:
    """Return how a shadow version's live-sample verdicts compare with the current version's on the same traces."""
    pairs = list(
        ShadowVerdict.objects.filter(judge_version=judge_version, shadow_passed__isnull=False).values_list(
            "shadow_passed", "current_passed"
        )
    )
    n = len(pairs)
    return LiveComparison(
        n=n,
        agreement=binary_agreement(pairs),
        shadow_pass_rate=sum(1 for s, _ in pairs if s) / n if n else None,
        current_pass_rate=sum(1 for _, c in pairs if c) / n if n else None,
    )


@dataclass(frozen=True)
class ProbeRow:
    """Agreement on one slice of the calibration set, with the pass rates that show which way a bias leans."""

    label: str
    agreement: BinaryAgreement
    judge_pass_rate: float | None
    human_pass_rate: float | None


def _probe_row(label: str, pairs: Sequence[tuple[bool, bool]]) -> ProbeRow:
    n = len(pairs)
    return ProbeRow(
        label=label,
        agreement=binary_agreement(pairs),
        judge_pass_rate=sum(1 for j, _ in pairs if j) / n if n else None,
        human_pass_rate=sum(1 for _, h in pairs if h) / n if n else None,
    )


@dataclass(frozen=True)
class BiasProbes:
    """Agreement split by answer-length quartile and by whether the answer came from the judge's own family."""

    by_length: list[ProbeRow]
    by_family: list[ProbeRow]
    n: int


def judge_bias_probes(*, judge_version: JudgeVersion) -> BiasProbes:
    """Return the version's bias probes over all its usable calibration verdicts (random and routed together)."""
    rows = list(
        CalibrationVerdict.objects.filter(judge_version=judge_version, judge_passed__isnull=False).values_list(
            "answer_chars", "is_same_family", "judge_passed", "human_passed"
        )
    )
    by_length: list[ProbeRow] = []
    if len(rows) >= 4:
        # Quartiles by rank, so ties of length never leave a quartile empty; each row says its length range.
        ranked = sorted(rows, key=lambda r: r[0])
        for index in range(4):
            part = ranked[index * len(ranked) // 4 : (index + 1) * len(ranked) // 4]
            shown = f"Q{index + 1}: {part[0][0]}–{part[-1][0]} chars"
            by_length.append(_probe_row(shown, [(j, h) for _, _, j, h in part]))
    by_family = [
        _probe_row("answer from the judge's own model family", [(j, h) for _, same, j, h in rows if same]),
        _probe_row("answer from another family", [(j, h) for _, same, j, h in rows if not same]),
    ]
    return BiasProbes(by_length=by_length, by_family=by_family, n=len(rows))


@dataclass(frozen=True)
class JudgeRegression:
    """A judge's current agreement in a window against its current version's own baseline."""

    version: JudgeVersion | None
    baseline_kappa: float | None
    kappa: float | None
    samples: int

    @property
    def drop(self) -> float | None:
        """How far κ fell below the baseline (negative when it rose); None without both."""
        if self.baseline_kappa is None or self.kappa is None:
            return None
        return self.baseline_kappa - self.kappa


def judge_regression(*, project: Project, judge_id: int, start: datetime, end: datetime) -> JudgeRegression:
    """Return κ of the current version's random-sample verdicts made in [start, end) beside its baseline κ."""
    version = JudgeVersion.objects.filter(
        project=project, judge_id=judge_id, status=JudgeVersion.Status.CURRENT, judge__is_active=True
    ).first()
    if version is None:
        return JudgeRegression(None, None, None, 0)
    pairs = list(
        CalibrationVerdict.objects.filter(
            judge_version=version,
            sample=RANDOM,
            judge_passed__isnull=False,
            judged_at__gte=start,
            judged_at__lt=end,
        ).values_list("judge_passed", "human_passed")
    )
    stats = binary_agreement(pairs)
    return JudgeRegression(version, version.baseline_kappa, stats.kappa, stats.n)


@dataclass(frozen=True)
class VersionDiff:
    """One field that differs between two versions."""

    field: str
    old: object
    new: object


def judge_version_diff(*, old: JudgeVersion | None, new: JudgeVersion) -> list[VersionDiff]:
    """Return what changed from `old` to `new` (model, URL, rubric, parameters); everything when old is None."""
    before = old.fields() if old is not None else {}
    after = new.fields()
    return [
        VersionDiff(key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def agreement_days_between(*, judge_version: JudgeVersion, since: date, until: date) -> list[AgreementDay]:
    """Return the version's daily rows in [since, until]."""
    return list(
        AgreementDay.objects.filter(judge_version=judge_version, day__gte=since, day__lte=until).order_by("day")
    )
