"""SLI and alerting pages: SLIs with their value now and charts (dashboards panels), rule forms with a 7-day
preview, alerts and their history, channels with "Send test". Writes need the project admin role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from apps.core.forms import form_add_service_error
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import Membership, Project
from apps.slis.engine import DIMENSIONS, duration_seconds, sli_unit, slice_text, value_format
from apps.slis.forms import ChannelForm, RuleForm, SilenceForm, SliForm
from apps.slis.models import AlertRule, Sli
from apps.slis.selectors import (
    RANGES,
    alert_flips,
    alert_get,
    alert_list,
    channel_get,
    channel_list,
    notification_list,
    rule_get,
    rule_list,
    rule_preview,
    sli_chart,
    sli_get,
    sli_list,
    sli_overview,
    sli_series,
    sli_spec,
    sparkline_path,
)
from apps.slis.services import (
    SLI_TEMPLATES,
    alert_acknowledge,
    alert_rule_create,
    alert_rule_mute,
    alert_rule_update,
    alert_silence,
    channel_create,
    channel_test_send,
    sli_create,
    sli_create_from_template,
)

ADMIN = Membership.Role.ADMIN


def _base(project: Project, **extra: Any) -> dict[str, Any]:
    return {"project": project, "nav": "slis", "is_admin": is_project_admin(project=project), **extra}


def _rule_group_by(sli: Sli) -> list[str]:
    """The slices an SLI is shown by: those of its first rule that slices (none: all traffic)."""
    for rule in sli.rules.all().order_by("id"):
        if rule.group_by:
            return list(rule.group_by)
    return []


@project_view()
def sli_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the SLIs: value over the last hour, the states of their rules, a chart per SLI by slice (last 24 h)."""
    rows = []
    for sli in sli_list(project=project):
        group_by = _rule_group_by(sli)
        row = sli_overview(project=project, sli=sli, group_by=group_by)
        rows.append((row, sli_chart(project=project, sli=sli, group_by=group_by, compact=True)))
    return render(
        request, "slis/sli_list.html", _base(project, rows=rows, templates=SLI_TEMPLATES, value_format=value_format)
    )


@project_view(min_role=ADMIN)
def sli_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Define an SLI from a built-in template (one click) or from the form."""
    form = SliForm(request.POST or None)
    if request.method == "POST":
        try:
            if request.POST.get("template"):
                sli = sli_create_from_template(project=project, template=request.POST["template"])
                return redirect("slis:detail", project_slug=project.slug, sli_id=sli.id)
            if form.is_valid():
                data = form.cleaned_data
                sli = sli_create(
                    project=project,
                    name=data["name"],
                    metric=data["metric"],
                    aggregation=data["aggregation"],
                    filters=form.filters(),
                    use_corrected=data["use_corrected"],
                    corrected_min_labels=data["corrected_min_labels"] or 30,
                )
                return redirect("slis:detail", project_slug=project.slug, sli_id=sli.id)
        except ValidationError as exc:
            form_add_service_error(form, exc)
    status = 400 if request.method == "POST" else 200
    return render(request, "slis/sli_form.html", _base(project, form=form, templates=SLI_TEMPLATES), status=status)


def _sli_or_404(project: Project, sli_id: int) -> Sli:
    sli = sli_get(project=project, sli_id=sli_id)
    if sli is None:
        raise Http404("No such SLI in this project.")
    return sli


def _detail(request: HttpRequest, project: Project, sli: Sli, form: RuleForm | None = None) -> dict[str, Any]:
    group_by = [d for d in request.GET.getlist("group_by") if d in DIMENSIONS] or _rule_group_by(sli)
    range_name = request.GET.get("range", "24h") if request.GET.get("range") in RANGES else "24h"
    overview = sli_overview(project=project, sli=sli, group_by=group_by)
    charts = [sli_chart(project=project, sli=sli, range_name=range_name)]
    if group_by:
        charts.append(sli_chart(project=project, sli=sli, range_name=range_name, group_by=group_by))
    rules = list(rule_list(project=project, sli=sli))
    for rule in rules:
        rule.state_counts = {}
        for alert in alert_list(project=project, rule=rule):
            rule.state_counts[alert.state] = rule.state_counts.get(alert.state, 0) + 1
    return _base(
        project,
        sli=sli,
        overview=overview,
        charts=[c for c in charts if c is not None],
        group_by=group_by,
        range_name=range_name,
        ranges=list(RANGES),
        dimensions=DIMENSIONS,
        rules=rules,
        form=form or RuleForm(project=project, initial={"min_samples": 10, "window": "5m", "for_duration": "0m"}),
        value_format=value_format,
    )


@project_view()
def sli_detail_view(request: HttpRequest, project: Project, sli_id: int) -> HttpResponse:
    """One SLI: its value now, its charts (all traffic, by slice), its rules and their states, and the rule form."""
    sli = _sli_or_404(project, sli_id)
    return render(request, "slis/sli_detail.html", _detail(request, project, sli))


def _rule_data(form: RuleForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "comparator": data["comparator"],
        "threshold": data["threshold"],
        "window": data["window"],
        "min_samples": data["min_samples"],
        "for_duration": data["for_duration"],
        "group_by": data["group_by"],
        "channels": [c.id for c in data["channels"]],
        "objective": data["objective"],
        "slo_window": data["slo_window"] or "28d",
    } | ({"threshold": 0.0} if data["threshold"] is None else {})


@require_POST
@project_view(min_role=ADMIN)
def rule_create_view(request: HttpRequest, project: Project, sli_id: int) -> HttpResponse:
    """Add a rule to an SLI; the form with its errors on bad input."""
    sli = _sli_or_404(project, sli_id)
    form = RuleForm(request.POST, project=project)
    if form.is_valid():
        try:
            rule = alert_rule_create(project=project, sli=sli, **_rule_data(form))
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            return redirect("slis:rule", project_slug=project.slug, rule_id=rule.id)
    return render(request, "slis/sli_detail.html", _detail(request, project, sli, form), status=400)


@require_POST
@project_view()
def rule_preview_view(request: HttpRequest, project: Project, sli_id: int) -> HttpResponse:
    """How the rule in the form would have behaved over the last 7 days (htmx fragment)."""
    sli = _sli_or_404(project, sli_id)
    form = RuleForm(request.POST, project=project)
    context: dict[str, Any] = {"project": project, "form_errors": None}
    if form.is_valid() and form.cleaned_data["objective"] is not None:
        context["form_errors"] = {"objective": ["the preview replays threshold rules only"]}
    elif form.is_valid():
        data = form.cleaned_data
        flips, unit = rule_preview(
            project=project,
            sli=sli,
            comparator=data["comparator"],
            threshold=data["threshold"],
            min_samples=data["min_samples"],
            hold=data["for_duration"],
            group_by=data["group_by"],
        )
        context.update(flips=flips, unit=unit, value_format=value_format, ran=True)
    else:
        context["form_errors"] = form.errors
    return render(request, "slis/_rule_preview.html", context)


def _rule_or_404(project: Project, rule_id: int) -> AlertRule:
    rule = rule_get(project=project, rule_id=rule_id)
    if rule is None:
        raise Http404("No such rule in this project.")
    return rule


@project_view()
def rule_detail_view(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    """A rule: its definition (editable by admins: an edit resets its states), its last error, its alerts, and
    its history of transitions."""
    rule = _rule_or_404(project, rule_id)
    status = 200
    initial = {
        "name": rule.name,
        "comparator": rule.comparator,
        "threshold": rule.threshold,
        "window": rule.window,
        "min_samples": rule.min_samples,
        "for_duration": rule.for_duration,
        "group_by": rule.group_by,
        "channels": list(rule.channels.all()),
        "objective": rule.objective,
        "slo_window": rule.slo_window,
    }
    form = RuleForm(project=project, initial=initial)
    if request.method == "POST":
        if not is_project_admin(project=project):
            return HttpResponse("Editing rules needs the admin role.", status=403)
        form = RuleForm(request.POST, project=project)
        if form.is_valid():
            try:
                alert_rule_update(rule=rule, **_rule_data(form))
            except ValidationError as exc:
                form_add_service_error(form, exc)
            else:
                return redirect("slis:rule", project_slug=project.slug, rule_id=rule.id)
        status = 400
    spec = sli_spec(project=project, sli=rule.sli)
    context = _base(
        project,
        rule=rule,
        form=form,
        alerts=list(alert_list(project=project, rule=rule)),
        flips=alert_flips(project=project, rule=rule, limit=100),
        unit=sli_unit(rule.sli.aggregation, spec),
        value_format=value_format,
    )
    return render(request, "slis/rule_detail.html", context, status=status)


@require_POST
@project_view(min_role=ADMIN)
def rule_mute_view(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    """Mute or unmute a rule."""
    rule = _rule_or_404(project, rule_id)
    alert_rule_mute(rule=rule, muted=request.POST.get("muted") == "1")
    return redirect("slis:rule", project_slug=project.slug, rule_id=rule.id)


@project_view()
def alert_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Alerts that are not ok (firing first) and the latest transitions."""
    alerts = list(alert_list(project=project, states=["firing", "pending", "no_data", "resolved"])[:200])
    return render(
        request,
        "slis/alert_list.html",
        _base(
            project,
            alerts=alerts,
            flips=alert_flips(project=project, limit=100),
            value_format=value_format,
            slice_text=slice_text,
            notifications=notification_list(project=project, limit=50),
        ),
    )


def _failing_traces_url(project: Project, alert: Any) -> str:
    """Link to the traces of the alert's slice over its window, failing ones only where the metric says how."""
    rule = alert.rule
    since = (alert.since - timedelta(seconds=duration_seconds(rule.window))).strftime("%Y-%m-%dT%H:%M")
    params = {**rule.sli.filters, **alert.slice, "since": since}
    if rule.sli.metric == "errors":
        params["status"] = "error"
    elif rule.sli.aggregation in ("pass_rate", "fail_rate"):
        params["score"] = f"{rule.sli.metric}:failed"
    return reverse("traces:list", kwargs={"project_slug": project.slug}) + "?" + urlencode(params)


@project_view()
def alert_detail_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    """An alert: its slice against its baseline, the SLI around the transition, its history, failing traces."""
    alert = alert_get(project=project, alert_id=alert_id)
    if alert is None:
        raise Http404("No such alert in this project.")
    rule = alert.rule
    spec = sli_spec(project=project, sli=rule.sli)
    unit = sli_unit(rule.sli.aggregation, spec)
    around = alert.since
    series = sli_series(
        project=project,
        sli=rule.sli,
        start=around - timedelta(hours=6),
        end=min(timezone.now(), around + timedelta(hours=2)) + timedelta(minutes=1),
        interval="5m",
        group_by=list(alert.slice),
        spec=spec,
    )
    points = next((s.points for s in series if s.group == alert.slice), [])
    return render(
        request,
        "slis/alert_detail.html",
        _base(
            project,
            alert=alert,
            rule=rule,
            unit=unit,
            value_format=value_format,
            slice_label=slice_text(alert.slice),
            flips=alert_flips(project=project, alert=alert),
            points=points,
            sparkline=sparkline_path(points, 600, 80),
            traces_url=_failing_traces_url(project, alert),
            notifications=notification_list(project=project, alert=alert),
            silence_form=SilenceForm(initial={"hours": 4}),
        ),
    )


@require_POST
@project_view(min_role=ADMIN)
def alert_ack_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    """Acknowledge an alert."""
    alert = alert_get(project=project, alert_id=alert_id)
    if alert is None:
        raise Http404("No such alert in this project.")
    alert_acknowledge(alert=alert, by=request.user.get_username())
    return redirect("slis:alert", project_slug=project.slug, alert_id=alert.id)


@require_POST
@project_view(min_role=ADMIN)
def alert_silence_view(request: HttpRequest, project: Project, alert_id: int) -> HttpResponse:
    """Silence an alert's notifications for some hours (0 lifts the silence)."""
    alert = alert_get(project=project, alert_id=alert_id)
    if alert is None:
        raise Http404("No such alert in this project.")
    form = SilenceForm(request.POST)
    if form.is_valid():
        hours = form.cleaned_data["hours"]
        alert_silence(alert=alert, until=timezone.now() + timedelta(hours=hours) if hours else None)
    return redirect("slis:alert", project_slug=project.slug, alert_id=alert.id)


@project_view()
def channel_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Channels, and the form that adds one (admins)."""
    form = ChannelForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if not is_project_admin(project=project):
            return HttpResponse("Adding channels needs the admin role.", status=403)
        if form.is_valid():
            try:
                created = channel_create(project=project, **form.cleaned_data)
            except ValidationError as exc:
                form_add_service_error(form, exc)
                status = 400
            else:
                form = ChannelForm()
        else:
            status = 400
    return render(
        request,
        "slis/channel_list.html",
        _base(
            project,
            channels=channel_list(project=project),
            form=form,
            created=created,
            notifications=notification_list(project=project, limit=50),
        ),
        status=status,
    )


@require_POST
@project_view(min_role=ADMIN)
def channel_test_view(request: HttpRequest, project: Project, channel_id: int) -> HttpResponse:
    """Queue a test notification to a channel."""
    channel = channel_get(project=project, channel_id=channel_id)
    if channel is None:
        raise Http404("No such channel in this project.")
    channel_test_send(channel=channel)
    return redirect("slis:channels", project_slug=project.slug)
