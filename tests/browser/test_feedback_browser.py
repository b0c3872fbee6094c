"""Feedback in a real browser: the JavaScript snippet on another origin, the trace page, the unlinked page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.feedback.models import Feedback
from apps.feedback.services import feedback_create, feedback_inferred_record
from apps.projects.services import api_key_create
from tests.traces.factories import new_trace_id, simple_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Acme chat</title>
<script src="{sightline}/static/sightline-feedback.js"></script></head>
<body>
<p>Open Settings → Security.</p>
<button id="down">👎</button> <button id="rate">Rate 4</button>
<pre id="result"></pre>
<script>
  const fb = SightlineFeedback.init({{endpoint: "{sightline}", key: "{key}", userId: "user-812"}});
  const show = (r) => {{ document.getElementById("result").textContent = r.status + " " + JSON.stringify(r.body); }};
  document.getElementById("down").onclick = () => fb.thumbsDown("{trace_id}", {{comment: "wrong plan"}}).then(show);
  document.getElementById("rate").onclick = () => fb.rate("{trace_id}", 4).then(show);
</script>
</body></html>
"""


@pytest.fixture
def app_origin() -> Iterator[tuple[str, dict[str, str]]]:
    """A customer's app on another origin (127.0.0.1 vs the live server's localhost): serves one page."""
    content: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = content["page"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", content
    server.shutdown()
    server.server_close()


def test_the_snippet_posts_thumbs_and_ratings_cross_origin(page, live_server, project, app_origin):
    origin, content = app_origin
    key = api_key_create(project=project, name="front end", scope="feedback").plaintext
    trace = simple_trace(project)
    content["page"] = APP_PAGE.format(sightline=live_server.url, key=key, trace_id=trace.trace_id)
    assert not live_server.url.startswith(origin)  # really another origin: the browser checks CORS

    page.goto(origin + "/")
    page.click("#down")
    expect(page.locator("#result")).to_have_text('200 {"accepted":1,"rejected":[]}')
    page.evaluate("document.getElementById('result').textContent = ''")
    page.click("#rate")
    expect(page.locator("#result")).to_have_text('200 {"accepted":1,"rejected":[]}')

    rows = sorted(
        Feedback.objects.filter(project=project).values_list("kind", "value", "comment", "user_id", "trace_pk")
    )
    assert rows == [
        ("rating", 4.0, "", "user-812", trace.pk),
        ("thumbs_down", None, "wrong plan", "user-812", trace.pk),
    ]


def test_the_snippet_reports_a_refusal_without_throwing(page, live_server, project, app_origin):
    origin, content = app_origin
    key = api_key_create(project=project, name="reader", scope="read").plaintext
    content["page"] = APP_PAGE.format(sightline=live_server.url, key=key, trace_id=new_trace_id())
    page.goto(origin + "/")
    page.click("#down")
    expect(page.locator("#result")).to_contain_text("403")
    assert not Feedback.objects.exists()


def test_the_trace_page_shows_explicit_and_inferred_feedback(page, login, alice, project):
    trace = simple_trace(project)
    feedback_create(
        project=project, items=[{"trace_id": trace.trace_id, "kind": "thumbs_down", "comment": "wrong plan"}]
    )
    feedback_inferred_record(
        project_id=project.id,
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        kind="regenerate",
        reason="same input 14 s later",
        occurred_at=timezone.now(),
    )
    login(alice)
    page.goto(f"/p/{project.slug}/traces/{trace.trace_id}/")
    rows = page.get_by_test_id("feedback-row")
    expect(rows).to_have_count(2)
    expect(page.locator("[data-testid=feedback-row][data-source=explicit]")).to_contain_text("wrong plan")
    expect(page.locator("[data-testid=feedback-row][data-source=inferred]")).to_contain_text("same input 14 s later")
    expect(page.get_by_test_id("scores")).to_contain_text("thumbs_down")
    expect(page.get_by_test_id("scores")).to_contain_text("regenerated")

    # The trace list's feedback filter finds it.
    page.goto(f"/p/{project.slug}/traces/")
    page.select_option("#f-feedback", "true")
    expect(page.get_by_test_id("trace-row")).to_have_count(1)


def test_the_unlinked_page_lists_ids_that_never_arrived(page, login, alice, bob, project, settings):
    settings.FEEDBACK_UNLINKED_GRACE_SECONDS = 600
    lost, fresh = new_trace_id(), new_trace_id()
    feedback_create(
        project=project,
        items=[
            {"trace_id": lost, "kind": "thumbs_down"},
            {"trace_id": lost, "kind": "rating", "value": 1},
            {"trace_id": fresh, "kind": "thumbs_up"},
        ],
    )
    Feedback.objects.filter(trace_id=lost).update(created_at=timezone.now() - timedelta(minutes=30))
    login(bob)  # a viewer may look
    page.goto(f"/p/{project.slug}/traces/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Feedback").click()
    expect(page.get_by_role("heading", name="Unlinked feedback")).to_be_visible()
    rows = page.get_by_test_id("unlinked-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(lost)
    expect(rows.first).to_contain_text("rating, thumbs_down")
    expect(page.get_by_test_id("unlinked-waiting")).to_contain_text("3 feedback items")
