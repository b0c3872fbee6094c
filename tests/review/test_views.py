"""Review pages: roles (reviewer labels but does not configure, viewer only reads), the htmx flow, overview."""

from __future__ import annotations

import pytest

from apps.review.models import Label, ReviewItem, ReviewQueue, RoutingRule
from apps.review.services import LabelInput, RuleSpec, label_record, review_route
from tests.review.factories import only_rules, reviewer, traces

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queued(project):
    only_rules(project, RuleSpec(kind=RoutingRule.Kind.RANDOM_SAMPLE, sample_percent=100.0, reviews_required=2))
    ts = traces(project, 2)
    review_route(project_id=project.id, trace_pks=[t.pk for t in ts])
    return ts


def as_user(client, user):
    client.force_login(user)
    return client


def url(project, name: str = "") -> str:
    return f"/p/{project.slug}/review/{name}"


def test_outsiders_get_404_everywhere(client, carol, project, queued):
    as_user(client, carol)
    for path in ("", "overview/", "rules/", f"annotate/{queued[0].trace_id}/"):
        assert client.get(url(project, path)).status_code == 404
    assert client.post(url(project, "next/")).status_code == 404


def test_a_viewer_reads_but_cannot_label_or_configure(client, bob, project, queued):
    as_user(client, bob)
    page = client.get(url(project))
    assert page.status_code == 200 and b'data-testid="next"' not in page.content
    assert b"can read the queue but not label" in page.content
    assert client.post(url(project, "next/"), **HX).status_code == 403
    item = ReviewItem.objects.first()
    assert client.post(url(project, f"items/{item.id}/label/"), {"verdict": "pass"}, **HX).status_code == 403
    rules = client.get(url(project, "rules/"))
    assert rules.status_code == 200 and b"rule-add" not in rules.content
    assert client.post(url(project, "rules/new/"), {"kind": "check_failed", "priority": 1}).status_code == 403
    annotate = client.get(url(project, f"annotate/{queued[0].trace_id}/"))
    assert annotate.status_code == 200 and b"annotate-save" not in annotate.content
    assert client.post(url(project, f"annotate/{queued[0].trace_id}/"), {"verdict": "pass"}).status_code == 403
    assert client.get(url(project, "overview/")).status_code == 200
    assert Label.objects.count() == 0


def test_a_reviewer_labels_through_the_queue_but_cannot_configure(client, project, queued):
    ann = reviewer(project, "ann")
    as_user(client, ann)
    panel = client.post(url(project, "next/"), **HX)
    assert panel.status_code == 200 and b'id="label-form"' in panel.content
    first = ReviewItem.objects.get(claimed_by=ann)
    assert b'hx-swap-oob="true">1 pending \xc2\xb7 1 claimed' in panel.content  # the head's counts follow
    # The trace is shown as in the trace browser, conversation first, with why it is here.
    trace = next(t for t in queued if t.pk == first.trace_pk)
    assert b'data-testid="span-panel"' in panel.content and b"random 100% sample" in panel.content
    assert trace.output_text.encode() in panel.content
    bad = client.post(url(project, f"items/{first.id}/label/"), {"verdict": "maybe"}, **HX)
    assert bad.status_code == 400 and b"verdict:" in bad.content
    saved = client.post(
        url(project, f"items/{first.id}/label/"),
        {"verdict": "fail", "categories": ["hallucination", "unsafe"], "notes": "invented a refund policy"},
        **HX,
    )
    assert saved.status_code == 200 and b'data-testid="saved"' in saved.content
    label = Label.objects.get(reviewer=ann)
    assert (label.verdict, label.categories, label.item_id) == ("fail", ["hallucination", "unsafe"], first.id)
    second = ReviewItem.objects.get(claimed_by=ann)
    assert second.id != first.id and f'data-item-id="{second.id}"'.encode() in saved.content
    assert client.post(url(project, "rules/new/"), {"kind": "check_failed", "priority": 1}).status_code == 403
    assert client.post(url(project, "settings/"), {"daily_cap": 1}).status_code == 403


def test_skip_and_an_empty_queue(client, project, queued):
    as_user(client, reviewer(project, "ann"))
    client.post(url(project, "next/"), **HX)
    item = ReviewItem.objects.get(status="claimed")
    after = client.post(url(project, f"items/{item.id}/skip/"), **HX)
    other = ReviewItem.objects.get(status="claimed")
    assert other.id != item.id and f'data-item-id="{other.id}"'.encode() in after.content
    empty = client.post(url(project, f"items/{other.id}/skip/"), **HX)
    assert b'data-testid="queue-empty"' in empty.content


def test_an_admin_configures_rules_and_the_queue_in_the_ui(client, alice, project):
    as_user(client, alice)
    response = client.post(
        url(project, "rules/new/"),
        {
            "kind": "score_below",
            "score_name": "helpfulness",
            "threshold": "3",
            "priority": "80",
            "reviews_required": "2",
            "is_enabled": "on",
        },
        **HX,
    )
    assert response.status_code == 200
    rule = RoutingRule.objects.get(project=project, score_name="helpfulness")
    assert (rule.threshold, rule.reviews_required) == (3.0, 2)
    bad = client.post(
        url(project, "rules/new/"), {"kind": "score_below", "priority": "1", "reviews_required": "1"}, **HX
    )
    assert bad.status_code == 400 and b"score_name" in bad.content
    sample = RoutingRule.objects.get(project=project, kind="random_sample")
    response = client.post(
        url(project, f"rules/{sample.id}/"), {"sample_percent": "5", "priority": "10", "reviews_required": "2"}, **HX
    )
    sample.refresh_from_db()
    assert response.status_code == 200 and (sample.sample_percent, sample.is_enabled) == (5.0, False)
    response = client.post(
        url(project, "settings/"), {"daily_cap": "50", "categories": "tone\n\nwrong tool\ntone"}, **HX
    )
    assert response.status_code == 200
    queue = ReviewQueue.objects.get(project=project)
    assert (queue.daily_cap, queue.categories) == (50, ["tone", "wrong tool"])
    assert b"Review routing rules" in client.get(f"/p/{project.slug}/settings/").content


def test_annotate_from_the_trace_page(client, project, queued):
    ann = reviewer(project, "ann")
    as_user(client, ann)
    trace = queued[0]
    detail = client.get(f"/p/{project.slug}/traces/{trace.trace_id}/")
    assert f"/p/{project.slug}/review/annotate/{trace.trace_id}/".encode() in detail.content
    response = client.post(url(project, f"annotate/{trace.trace_id}/"), {"verdict": "pass", "notes": "ok"}, **HX)
    assert response.status_code == 200 and b"annotate-saved" in response.content
    item = ReviewItem.objects.get(trace_pk=trace.pk)
    assert (item.reviews_done, Label.objects.get().item_id) == (1, item.id)  # counts toward the trace's item
    assert client.post(url(project, f"annotate/{'0' * 32}/"), {"verdict": "pass"}).status_code == 404


def test_the_overview_shows_reasons_throughput_and_kappa(client, alice, project, queued):
    ann, ben = reviewer(project, "ann"), reviewer(project, "ben")
    for trace, (a, b) in zip(queued, [("pass", "pass"), ("fail", "pass")], strict=True):
        for user, verdict in ((ann, a), (ben, b)):
            label_record(
                project=project, user=user, trace_pk=trace.pk, trace_id=trace.trace_id, data=LabelInput(verdict)
            )
    as_user(client, alice)
    page = client.get(url(project, "overview/")).content.decode()
    assert 'data-kind="random_sample"' in page
    assert "<td>ann</td>" in page and "<td>ben</td>" in page
    # Pairs (pass, pass) and (fail, pass): p_o 0.5, p_e 0.5 → κ 0.
    assert 'data-testid="kappa">0.00<' in page
