"""SDK-shaped traffic (content on a child span, an empty root) shows its conversation on the first view."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from apps.traces.models import Trace
from tests.support.otlp import protobuf_body, record_spans

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def openai_instrumented_request(tracer) -> None:
    """What an app instrumented with opentelemetry-instrumentation-openai-v2 sends: an app span, the LLM call below."""
    with tracer.start_as_current_span("POST /support/chat", attributes={"http.request.method": "POST"}):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "app.customer_tier": "gold",
                "gen_ai.input.messages": json.dumps(
                    [
                        {"role": "system", "parts": [{"type": "text", "content": "You are Acme's help desk."}]},
                        {"role": "user", "parts": [{"type": "text", "content": "Where is my invoice?"}]},
                    ]
                ),
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": "Billing → Invoices lists every invoice."}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            },
        ):
            pass


def test_sdk_traffic_opens_on_its_conversation(page, login, alice, project, api_key, client):
    response = client.post(
        "/v1/traces",
        data=protobuf_body(record_spans(openai_instrumented_request)),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200
    trace = Trace.objects.get(project=project)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(alice)
    page.goto(f"/p/{project.slug}/traces/{trace.trace_id}/")

    # The root span (selected) is empty, yet the page opens on the conversation.
    expect(page.get_by_test_id("span-panel")).to_contain_text("POST /support/chat")
    conversation = page.get_by_test_id("conversation")
    expect(conversation.get_by_test_id("conv-system")).to_contain_text("You are Acme's help desk.")
    entries = conversation.get_by_test_id("conv-entry")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("Where is my invoice?")
    expect(entries.nth(1)).to_contain_text("answer")
    expect(entries.nth(1)).to_contain_text("Billing → Invoices lists every invoice.")
    assert page.evaluate("document.documentElement.scrollTop") == 0
    box = conversation.bounding_box()
    assert box is not None and box["y"] < page.viewport_size["height"]  # visible without scrolling

    # The copy button puts the trace id on the clipboard.
    copy = page.locator(".page-head").get_by_test_id("copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == trace.trace_id

    # The LLM span's raw attributes open as JSON.
    page.get_by_test_id("wf-row").filter(has_text="chat gpt-4o-mini").click()
    expect(page.get_by_test_id("span-panel")).to_contain_text("chat gpt-4o-mini")
    href = page.get_by_test_id("span-json").get_attribute("href")
    page.goto(href)
    data = json.loads(page.locator("body").inner_text())
    assert data["attributes"]["app.customer_tier"] == "gold"
    assert data["name"] == "chat gpt-4o-mini"
