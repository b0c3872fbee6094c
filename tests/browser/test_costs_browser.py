"""Cost in a real browser: the computed marker on the trace page, and a price override saved on Settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from apps.traces.normalize import NormalizedSpan
from apps.traces.services import spans_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _llm_trace(project, trace_id: str, **fields) -> None:
    spans_ingest(
        project=project,
        spans=[
            NormalizedSpan(
                trace_id=trace_id,
                span_id="1" * 16,
                kind="llm",
                name="chat gpt-4o-mini",
                model="gpt-4o-mini",
                provider="openai",
                started_at=T0,
                ended_at=T0 + timedelta(milliseconds=300),
                latency_ms=300,
                input_tokens=1_000_000,
                output_tokens=1_000_000,
                **fields,
            )
        ],
    )


def test_trace_page_marks_a_computed_cost_and_a_reported_one(page, login, alice, project):
    _llm_trace(project, "c" * 32)
    _llm_trace(project, "d" * 32, cost_total=0.25, cost_source="reported")
    login(alice)
    page.goto(f"/p/{project.slug}/traces/{'c' * 32}/")
    expect(page.get_by_test_id("trace-cost")).to_contain_text("$0.75")  # 1M in at $0.15 + 1M out at $0.60
    expect(page.get_by_test_id("cost-computed")).to_be_visible()
    expect(page.get_by_test_id("trace-status")).to_have_text("ok")  # the span left its status unset
    page.goto(f"/p/{project.slug}/traces/{'d' * 32}/")
    expect(page.get_by_test_id("trace-cost")).to_contain_text("$0.25")
    expect(page.get_by_test_id("cost-computed")).to_have_count(0)
    expect(page.get_by_test_id("cost-reported")).to_be_visible()


def test_admin_saves_a_price_override_on_settings_and_new_traces_use_it(page, login, alice, project):
    login(alice)
    page.goto(f"/p/{project.slug}/settings/")
    form = page.get_by_test_id("price-form")
    expect(form).to_be_visible()  # loaded into the settings page by htmx
    page.fill("#id_price_pattern", "gpt-4o-mini*")
    page.fill("#id_price_input", "2")
    page.fill("#id_price_output", "-1")
    page.fill("#id_price_from", "2026-11-01")
    page.evaluate("document.querySelector('#id_price_output').removeAttribute('min')")  # let the server refuse it
    form.get_by_role("button", name="Save price").click()
    expect(page.get_by_test_id("price-error")).to_contain_text("output_per_million")
    page.fill("#id_price_output", "4")
    page.get_by_test_id("price-form").get_by_role("button", name="Save price").click()
    expect(page.get_by_test_id("price-saved")).to_be_visible()
    expect(page.get_by_test_id("price-row").filter(has_text="gpt-4o-mini*")).to_contain_text("2026-11-01")
    assert page.url.endswith(f"/p/{project.slug}/settings/")

    _llm_trace(project, "e" * 32)
    page.goto(f"/p/{project.slug}/traces/{'e' * 32}/")
    expect(page.get_by_test_id("trace-cost")).to_contain_text("$6.00")  # 1M in at $2 + 1M out at $4
    expect(page.get_by_test_id("cost-computed")).to_be_visible()
