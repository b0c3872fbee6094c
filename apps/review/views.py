"""Review pages: the keyboard-first queue, the overview, routing rules, and annotating a trace from its page."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import is_partial
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import Membership, Project, role_at_least
from apps.review.forms import LabelForm, QueueSettingsForm, RuleForm
from apps.review.models import ReviewItem
from apps.review.selectors import (
    label_list_for_trace,
    review_agreement,
    review_item_claimed_by,
    review_item_counts,
    review_item_get,
    review_items_by_reason,
    review_queue_get,
    reviewer_throughput,
    routing_rule_get,
    routing_rule_list,
)
from apps.review.services import (
    RuleSpec,
    label_record,
    review_item_claim,
    review_item_release,
    review_queue_update,
    routing_rule_create,
    routing_rule_update,
)
from apps.traces.models import Span, Trace
from apps.traces.selectors import span_tree, span_tree_flat, trace_get, trace_score_list_described

ADMIN = Membership.Role.ADMIN
REVIEWER = Membership.Role.REVIEWER
QUEUE_TEMPLATE = "review/queue.html"
RULES_TEMPLATE = "review/rules.html"
ANNOTATE_TEMPLATE = "review/_annotate.html"


def _can_label(project: Project) -> bool:
    return role_at_least(getattr(project, "user_role", None), REVIEWER)


def _conversation_span(trace: Trace) -> tuple[list[Any], Span | None]:
    """Return the span tree and the span whose conversation to show first: the last LLM answer, else the root."""
    nodes = span_tree_flat(roots=span_tree(trace=trace))
    llm = [n.span for n in nodes if n.span.kind == "llm" and (n.span.output_messages or n.span.output_text)]
    if llm:
        return nodes, max(llm, key=lambda s: s.started_at)
    return nodes, nodes[0].span if nodes else None


def _panel_context(request: HttpRequest, project: Project, item: ReviewItem | None, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"project": project, "item": item, "can_label": _can_label(project), **extra}
    if item is None:
        return context
    trace = trace_get(project=project, trace_id=item.trace_id)
    context["trace"] = trace
    if trace is not None:
        context["nodes"], context["span"] = _conversation_span(trace)
        scores = trace_score_list_described(project=project, trace=trace)
        reasons = " ".join(item.reason_texts)
        # The scores that sent the trace here first (their names appear in its reasons), feedback next.
        scores.sort(key=lambda s: (s.name not in reasons, s.source != "feedback", s.name))
        context["scores"] = [(s, s.name in reasons or s.source == "feedback") for s in scores]
    queue = review_queue_get(project=project)
    context.setdefault("form", LabelForm(categories=queue.categories))
    context["category_keys"] = list(enumerate(queue.categories, start=1))
    return context


def _panel(request: HttpRequest, project: Project, item: ReviewItem | None, status: int = 200, **extra: Any):
    """Answer the queue's panel: the fragment for htmx, else the whole queue page."""
    context = _panel_context(request, project, item, **extra)
    context["counts"] = review_item_counts(project=project)
    if is_partial(request):
        # The counts in the page head follow along out of band.
        context["counts_oob"] = True
        return render(request, f"{QUEUE_TEMPLATE}#review-panel", context, status=status)
    context["nav"] = "review"
    return render(request, QUEUE_TEMPLATE, context, status=status)


@project_view()
def review_queue_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Show the queue: the reviewer's current claim (if any) and the Next button; viewers see the counts."""
    item = None
    if _can_label(project):
        item = review_item_claimed_by(project=project, user=request.user)
    return _panel(request, project, item)


@require_POST
@project_view(min_role=REVIEWER)
def review_next_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Claim the highest-priority open item for the reviewer and show it."""
    item = review_item_claim(project=project, user=request.user)
    return _panel(request, project, item, empty=item is None)


@require_POST
@project_view(min_role=REVIEWER)
def review_label_view(request: HttpRequest, project: Project, item_id: int) -> HttpResponse:
    """Save the reviewer's label of an item, then claim and show the next one."""
    item = review_item_get(project=project, item_id=item_id)
    if item is None:
        raise Http404("No such review item.")
    form = LabelForm(request.POST, categories=review_queue_get(project=project).categories)
    if form.is_valid():
        try:
            label_record(
                project=project,
                user=request.user,
                trace_pk=item.trace_pk,
                trace_id=item.trace_id,
                data=form.to_input(),
                item_id=item.id,
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if form.errors:
        return _panel(request, project, item, status=400, form=form)
    if not is_partial(request):
        return redirect("review:queue", project_slug=project.slug)
    following = review_item_claim(project=project, user=request.user)
    return _panel(request, project, following, empty=following is None, saved=True)


@require_POST
@project_view(min_role=REVIEWER)
def review_skip_view(request: HttpRequest, project: Project, item_id: int) -> HttpResponse:
    """Give the item back (never offered to this reviewer again) and show the next one."""
    review_item_release(project=project, user=request.user, item_id=item_id, skip=True)
    if not is_partial(request):
        return redirect("review:queue", project_slug=project.slug)
    following = review_item_claim(project=project, user=request.user)
    return _panel(request, project, following, empty=following is None)


@project_view()
def review_overview_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Show items by reason and status, throughput per reviewer, and agreement between reviewers."""
    agreement = review_agreement(project=project)
    context = {
        "project": project,
        "nav": "review",
        "counts": review_item_counts(project=project),
        "by_reason": review_items_by_reason(project=project),
        "throughput": reviewer_throughput(project=project),
        "agreement": agreement,
        "agreed_pct": 100 * agreement.agreed / agreement.pairs if agreement.pairs else None,
    }
    return render(request, "review/overview.html", context)


# -- configuration ---------------------------------------------------------------------------------


def _rules_context(project: Project, **extra: Any) -> dict[str, Any]:
    queue = review_queue_get(project=project)
    return {
        "project": project,
        "nav": "review",
        "rules": routing_rule_list(project=project),
        "is_admin": is_project_admin(project=project),
        "rule_form": extra.pop("rule_form", RuleForm(initial={"priority": 50, "reviews_required": 1})),
        "queue_form": extra.pop(
            "queue_form",
            QueueSettingsForm(initial={"daily_cap": queue.daily_cap, "categories": "\n".join(queue.categories)}),
        ),
        **extra,
    }


def _rules_answer(request: HttpRequest, project: Project, fragment: str, status: int = 200, **extra: Any):
    context = _rules_context(project, **extra)
    if is_partial(request):
        return render(request, f"{RULES_TEMPLATE}#{fragment}", context, status=status)
    if status >= 400:
        return render(request, RULES_TEMPLATE, context, status=status)
    return redirect("review:rules", project_slug=project.slug)


@project_view()
def review_rules_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Show the routing rules and queue settings; admins change them here."""
    return render(request, RULES_TEMPLATE, _rules_context(project))


@require_POST
@project_view(min_role=ADMIN)
def routing_rule_create_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Add a routing rule."""
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            routing_rule_create(project=project, spec=form.to_spec())
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            return _rules_answer(request, project, "rules")
    return _rules_answer(request, project, "rules", status=400, rule_form=form)


@require_POST
@project_view(min_role=ADMIN)
def routing_rule_edit_view(request: HttpRequest, project: Project, rule_id: int) -> HttpResponse:
    """Change one rule's settings (threshold, percentage, priority, reviews, enabled)."""
    rule = routing_rule_get(project=project, rule_id=rule_id)
    if rule is None:
        raise Http404("No such rule.")
    form = RuleForm({**request.POST.dict(), "kind": rule.kind})
    error = ""
    if form.is_valid():
        try:
            routing_rule_update(rule=rule, spec=RuleSpec(**form.cleaned_data))
        except ValidationError as exc:
            error = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    else:
        error = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    return _rules_answer(request, project, "rules", status=400 if error else 200, rule_error=error)


@require_POST
@project_view(min_role=ADMIN)
def review_queue_settings_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Change the daily cap and the label form's failure categories."""
    form = QueueSettingsForm(request.POST)
    if form.is_valid():
        try:
            review_queue_update(
                project=project, daily_cap=form.cleaned_data["daily_cap"], categories=form.category_list()
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            return _rules_answer(request, project, "queue-settings", queue_saved=True)
    return _rules_answer(request, project, "queue-settings", status=400, queue_form=form)


# -- annotate from the trace page ------------------------------------------------------------------


@project_view()
def trace_annotate_view(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    """The trace page's label fragment: the trace's labels, and for reviewers a form to add or change theirs."""
    trace = trace_get(project=project, trace_id=trace_id)
    if trace is None:
        raise Http404("No such trace in this project.")
    categories = review_queue_get(project=project).categories
    context: dict[str, Any] = {"project": project, "trace": trace, "can_label": _can_label(project)}
    status = 200
    if request.method == "POST":
        if not _can_label(project):
            return HttpResponse("Labeling needs the reviewer role.", status=403)
        form = LabelForm(request.POST, categories=categories)
        if form.is_valid():
            try:
                label_record(
                    project=project, user=request.user, trace_pk=trace.pk, trace_id=trace.trace_id, data=form.to_input()
                )
                context["saved"] = True
            except ValidationError as exc:
                form_add_service_error(form, exc)
        status = 400 if form.errors else 200
    else:
        form = LabelForm(categories=categories)
    labels = list(label_list_for_trace(project=project, trace_pk=trace.pk))
    mine = next((label for label in labels if label.reviewer_id == request.user.pk), None)
    if mine is not None and request.method != "POST":
        form = LabelForm(
            initial={
                "verdict": mine.verdict,
                "categories": mine.categories,
                "corrected_answer": mine.corrected_answer,
                "notes": mine.notes,
            },
            categories=categories,
        )
    context.update(form=form, labels=labels, mine=mine)
    return render(request, ANNOTATE_TEMPLATE, context, status=status)
