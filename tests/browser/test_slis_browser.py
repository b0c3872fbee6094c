"""SLIs in a real browser: an SLI from a template in one click, a rule previewed over 7 days, then saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.slis.models import AlertRule, Sli
from tests.slis.helpers import settle, traffic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_an_sli_from_a_template_and_a_rule_with_a_preview(page, login, alice, project):
    now = timezone.now()
    traffic(project, at=now - timedelta(days=2), n=12, refused=0, prompt_version="v1")
    traffic(project, at=now - timedelta(hours=3), n=12, refused=6, prompt_version="v2")
    settle()
    login(alice)
    page.goto(f"/p/{project.slug}/traces/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="SLIs & Alerts").click()
    expect(page.get_by_test_id("slis")).to_contain_text("No SLIs yet.")

    page.get_by_test_id("template-refusal_rate").click()  # one click
    expect(page.get_by_test_id("sli-name")).to_have_text("Refusal rate")
    sli = Sli.objects.get(project=project)
    assert (sli.metric, sli.aggregation) == ("refusal", "fail_rate")

    form = page.get_by_test_id("rule-form")
    form.locator("#id_comparator").select_option(">")
    form.locator("#id_threshold").fill("0.05")
    form.locator("#id_min_samples").fill("10")
    form.get_by_label("prompt_version").check()
    page.get_by_test_id("rule-preview-button").click()
    flips = page.get_by_test_id("preview-flip")
    # v1 went quiet (no_data) after its hour; v2 fired at 50 %, resolved when its traffic stopped, then no_data.
    expect(flips).to_have_count(4)
    expect(flips.filter(has_text="firing → resolved")).to_contain_text("prompt_version=v2")
    fired = flips.filter(has_text="ok → firing")
    expect(fired).to_have_count(1)
    expect(fired).to_contain_text("prompt_version=v2")
    expect(fired).to_contain_text("50 %")

    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_test_id("rule-title")).to_contain_text("Refusal rate")
    rule = AlertRule.objects.get(sli=sli)
    assert (rule.comparator, rule.threshold, rule.group_by, rule.min_samples) == (">", 0.05, ["prompt_version"], 10)
    page.get_by_role("link", name="SLIs", exact=True).click()
    expect(page.get_by_test_id("sli-row")).to_contain_text("Refusal rate")
