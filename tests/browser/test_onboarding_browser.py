"""A new project's first page: create a key, copy the snippets, and watch the first trace arrive live."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.otlp import genai_request, protobuf_body, record_spans

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_onboarding_shows_the_first_trace_arriving_live(page, login, alice, live_server, client):
    login(alice)
    page.goto("/projects/new/")
    page.fill("#id_name", "Brand new bot")
    page.click("text=Create project")
    expect(page.get_by_role("heading", name="Send your first trace")).to_be_visible()
    expect(page.get_by_test_id("otlp-endpoint")).to_have_text(live_server.url)
    expect(page.get_by_test_id("first-trace")).to_contain_text("Waiting for the first trace")

    # One click issues a key, shown once and filled into every snippet.
    page.get_by_test_id("create-key").click()
    secret = page.get_by_test_id("new-key-secret").inner_text().strip()
    assert secret.startswith("sl_w_")
    expect(page.get_by_test_id("snippet-otel")).to_contain_text(f"Authorization=Bearer {secret}")
    expect(page.get_by_test_id("snippet-langfuse")).to_be_hidden()
    page.get_by_role("tab", name="Coming from Langfuse").click()
    expect(page.get_by_test_id("snippet-langfuse")).to_be_visible()
    expect(page.get_by_test_id("snippet-langfuse")).to_contain_text(f'LANGFUSE_SECRET_KEY="{secret}"')
    expect(page.get_by_test_id("snippet-otel")).to_be_hidden()

    # A trace sent with that key while the page is open turns the indicator into a link.
    response = client.post(
        "/v1/traces",
        data=protobuf_body(record_spans(genai_request)),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200
    link = page.get_by_test_id("first-trace-link")
    expect(link).to_be_visible(timeout=10_000)
    expect(link).to_have_text("answer_question")
    link.click()
    expect(page.get_by_test_id("conversation")).to_contain_text("How do I reset my password?")
