"""Trace browser pages: the filtered trace list, one trace as a waterfall, and a span's detail panel."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from apps.core.forms import form_add_service_error
from apps.core.htmx import HTMX_STOP_POLLING, is_partial
from apps.projects.access import is_project_admin, project_view
from apps.projects.models import ApiKey, Membership, Project
from apps.projects.services import api_key_create
from apps.traces.costs import model_price_delete, model_price_set, price_table
from apps.traces.forms import ModelPriceForm
from apps.traces.models import ModelPrice, Span, Trace
from apps.traces.normalize.fold import folded_values
from apps.traces.onboarding import onboarding_snippets
from apps.traces.selectors import (
    FilterError,
    TraceFilters,
    span_tree,
    span_tree_flat,
    trace_conversation,
    trace_facets,
    trace_get,
    trace_latest,
    trace_page,
    trace_page_panels,
    trace_score_filter_meanings,
    trace_score_filter_options,
    trace_score_list_described,
    traces_with_failed_scores,
)
from apps.traces.templatetags.traces_ui import list_row_cells

LIST_TEMPLATE = "traces/trace_list.html"
DETAIL_TEMPLATE = "traces/trace_detail.html"
ONBOARDING_TEMPLATE = "traces/onboarding.html"
MODEL_PRICES_TEMPLATE = "traces/_model_prices.html"
PAGE_SIZE = 50
# The list shows this much of each input and output, on hover (a longer text is said to be longer, with its length).
UI_PREVIEW_CHARS = 1000
FORM_FIELDS = (
    "since",
    "until",
    "route",
    "model",
    "prompt_version",
    "environment",
    "user_id",
    "session_id",
    "tag",
    "status",
    "has_feedback",
    "score",
    "q",
)


@project_view()
def trace_list_view(request: HttpRequest, project: Project) -> HttpResponse:
    """List the project's traces, newest first; htmx requests get only the rows (or only the next page)."""
    form = {name: request.GET.get(name, "").strip() for name in FORM_FIELDS}
    context: dict[str, object] = {
        "project": project,
        "nav": "traces",
        "form": form,
        "has_filters": any(form.values()),
        "rows": [],
        "next_url": "",
    }
    status = 200
    try:
        filters = TraceFilters.from_query(request.GET)
        rows, next_cursor = trace_page(
            project=project,
            filters=filters,
            cursor=request.GET.get("cursor", ""),
            limit=PAGE_SIZE,
            preview_chars=UI_PREVIEW_CHARS,
            as_dicts=True,  # no model instance per row
        )
    except FilterError as exc:
        context["filter_error"] = exc
        status = 400
    else:
        context["rows"] = list_row_cells(traces_with_failed_scores(traces=rows), project_slug=project.slug)
        context["score_meanings"] = trace_score_filter_meanings(project=project, filters=filters)
        if next_cursor:
            context["next_url"] = "?" + urlencode({**filters.as_query(), "cursor": next_cursor})
    cursor_given = bool(request.GET.get("cursor"))
    if status == 200 and not context["rows"] and not context["has_filters"] and not cursor_given:
        # A project without any trace yet: the page that shows how to send one is more use than an empty table.
        if not is_partial(request):
            return redirect("traces:onboarding", project_slug=project.slug)
    if is_partial(request):
        # "Load more" targets its own row and appends the next page in its place.
        fragment = "trace-page" if request.htmx.target == "load-more" and status == 200 else "trace-rows"  # type: ignore[attr-defined]
        return render(request, f"{LIST_TEMPLATE}#{fragment}", context, status=status)
    context["facets"] = trace_facets(project=project)
    return render(request, LIST_TEMPLATE, context, status=status)


@require_GET
@project_view()
def trace_score_options_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Return the score filter's suggestions, each with what the score's values mean (loaded when the field is
    focused, so the list page's own time does not grow with the project's metrics)."""
    options = trace_score_filter_options(project=project)
    return render(request, f"{LIST_TEMPLATE}#score-options", {"score_options": options})


@project_view()
def trace_detail_view(request: HttpRequest, project: Project, trace_id: str) -> HttpResponse:
    """Show one trace: its header, the conversation, failing scores, the span waterfall and the root span's panel."""
    trace = _trace_or_404(project, trace_id)
    return _detail_page(request, project, trace, selected_span_id="")


@project_view()
def trace_span_view(request: HttpRequest, project: Project, trace_id: str, span_id: str) -> HttpResponse:
    """Return one span's detail panel for htmx; a plain request gets the trace page with that span selected."""
    trace = _trace_or_404(project, trace_id)
    if not is_partial(request):
        return _detail_page(request, project, trace, selected_span_id=span_id)
    # A single-row read through the trace's own relation, so it stays scoped to the project.
    span = trace.spans.filter(
        project_id=trace.project_id, partition_at=trace.partition_at, span_id=span_id.lower()
    ).first()
    if span is None:
        raise Http404("No such span in this trace.")
    context = {"project": project, "trace": trace, "span": span}
    return render(request, f"{DETAIL_TEMPLATE}#span-panel", context)


@project_view()
def trace_span_json_view(request: HttpRequest, project: Project, trace_id: str, span_id: str) -> JsonResponse:
    """Return one span's raw attributes, resource, scope and events as JSON (the page's "raw JSON" view)."""
    trace = _trace_or_404(project, trace_id)
    span = trace.spans.filter(span_id=span_id.lower()).first()
    if span is None:
        raise Http404("No such span in this trace.")
    data = {
        "trace_id": trace.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "name": span.name,
        "attributes": span.attributes,
        "resource": span.resource,
        "scope": span.scope,
        "events": span.events,
        # Attributes stored once in canonical fields (same content under two conventions): where, and what arrived.
        "folded": folded_values(span),
    }
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = "inline"
    return response


def _trace_or_404(project: Project, trace_id: str) -> Trace:
    """Return the project's trace or raise 404."""
    trace = trace_get(project=project, trace_id=trace_id)
    if trace is None:
        raise Http404("No such trace in this project.")
    return trace


def _detail_page(request: HttpRequest, project: Project, trace: Trace, selected_span_id: str) -> HttpResponse:
    """Render the full trace page with one span's panel open (the first span when none is chosen)."""
    nodes = span_tree_flat(roots=span_tree(trace=trace))
    span: Span | None = next((n.span for n in nodes if n.span.span_id == selected_span_id.lower()), None)
    if selected_span_id and span is None:
        raise Http404("No such span in this trace.")
    if span is None and nodes:
        span = nodes[0].span
    scores = trace_score_list_described(project=project, trace=trace)
    context = {
        "project": project,
        "nav": "traces",
        "trace": trace,
        "nodes": nodes,
        "span": span,
        "scores": scores,
        "failing_scores": [score for score in scores if score.passed is False],
        "conversation": trace_conversation(trace=trace, spans=[node.span for node in nodes]),
        "panels": trace_page_panels(trace=trace),
    }
    return render(request, DETAIL_TEMPLATE, context)


def _onboarding_context(request: HttpRequest, project: Project, plaintext_key: str = "") -> dict[str, object]:
    """The onboarding page's context: this server's OTLP endpoint, the snippets, and whether a trace arrived."""
    endpoint = request.build_absolute_uri("/").rstrip("/")
    return {
        "project": project,
        "nav": "traces",
        "endpoint": endpoint,
        "snippets": onboarding_snippets(endpoint=endpoint, key=plaintext_key),
        "new_key": plaintext_key,
        "is_admin": is_project_admin(project=project),
        "first_trace": trace_latest(project=project),
    }


@project_view()
def trace_onboarding_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Show "Send your first trace": the endpoint, a key on request, snippets per tool, and a live wait for a trace."""
    return render(request, ONBOARDING_TEMPLATE, _onboarding_context(request, project))


@require_POST
@project_view(min_role=Membership.Role.ADMIN)
def trace_onboarding_key_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Issue a write key for the first trace and show the snippets filled in with it, this once."""
    issued = api_key_create(project=project, name="first trace", scope=ApiKey.Scope.WRITE, created_by=request.user)
    context = _onboarding_context(request, project, plaintext_key=issued.plaintext)
    template = ONBOARDING_TEMPLATE + ("#onboarding-snippets" if is_partial(request) else "")
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"  # the secret is in this response only
    return response


@project_view()
def trace_onboarding_status_view(request: HttpRequest, project: Project) -> HttpResponse:
    """Answer the onboarding page's poll: still waiting, or a link to the first trace (which stops the polling)."""
    first_trace = trace_latest(project=project)
    response = render(request, f"{ONBOARDING_TEMPLATE}#first-trace", {"project": project, "first_trace": first_trace})
    if first_trace is not None:
        response.status_code = HTMX_STOP_POLLING
    return response


def _model_prices_render(
    request: HttpRequest,
    project: Project,
    *,
    form: ModelPriceForm | None = None,
    saved: bool = False,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "overrides": ModelPrice.objects.filter(project=project).order_by("model_pattern", "-effective_from"),
        "table": price_table(),
        "price_form": form or ModelPriceForm(),
        "saved": saved,
        "is_admin": is_project_admin(project=project),
    }
    return render(request, MODEL_PRICES_TEMPLATE, context, status=status)


@project_view()
def model_prices_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The settings fragment of model prices: the project's overrides (admins add them) and the shipped table."""
    if request.method != "POST":
        return _model_prices_render(request, project)
    if not is_project_admin(project=project):
        raise PermissionDenied("Only a project admin can change prices.")
    form = ModelPriceForm(request.POST)
    if form.is_valid():
        try:
            model_price_set(project=project, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            return _model_prices_render(request, project, saved=True)
    return _model_prices_render(request, project, form=form, status=400)


@require_POST
@project_view(min_role=Membership.Role.ADMIN)
def model_price_delete_view(request: HttpRequest, project: Project, model_price_id: int) -> HttpResponse:
    """Remove one price override."""
    model_price_delete(project=project, model_price_id=model_price_id)
    return _model_prices_render(request, project)
