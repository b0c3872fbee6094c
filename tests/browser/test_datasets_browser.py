"""Offline vs online and datasets in a real browser: the flagged divergence on the overview leads, in two clicks,
to a dataset of that version's labeled failures; the divergence page draws its charts; a trace is added to a dataset
from its page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.datasets.models import Dataset, DatasetItem
from apps.review.services import LabelInput, label_record
from apps.scores.rollups import HOUR, floor_time
from tests.datasets.helpers import two_versions
from tests.review.factories import reviewer
from tests.traces.factories import rag_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_flagged_divergence_leads_to_a_dataset_of_the_versions_labeled_failures(page, login, alice, project):
    now = floor_time(timezone.now() - timedelta(minutes=30), HOUR)
    failing = two_versions(project, now=now)
    dana = reviewer(project, "dana")
    for trace in failing[:3]:  # three of v1's failures reviewed
        label_record(
            project=project,
            user=dana,
            trace_pk=trace.pk,
            trace_id=trace.trace_id,
            data=LabelInput("fail", ["incomplete"]),
        )
    login(alice)
    page.goto(f"/p/{project.slug}/")
    panel = page.locator('[data-kind="divergence"][data-loaded="true"]')
    rows = panel.get_by_test_id("divergence-row")
    expect(rows).to_have_count(2)
    flagged = panel.locator('[data-testid="divergence-row"][data-flagged="true"]')
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("m-1 · v1")
    expect(flagged).to_contain_text("90.0 %")  # offline
    expect(flagged).to_contain_text("60.0 %")  # online
    expect(flagged.get_by_test_id("divergence-flag")).to_have_text("the offline suite has fallen behind production")

    flagged.get_by_test_id("divergence-build").click()
    expect(page.get_by_test_id("f-prompt-version")).to_have_value("v1")
    expect(page.get_by_test_id("f-model")).to_have_value("m-1")
    expect(page.get_by_test_id("build-matches")).to_have_text("3")
    page.get_by_test_id("f-category").fill("formatting")
    page.get_by_test_id("f-category").dispatch_event("change")
    expect(page.get_by_test_id("build-matches")).to_have_text("0")  # the preview follows the filters
    page.get_by_test_id("f-category").fill("")
    page.get_by_test_id("f-category").dispatch_event("change")
    expect(page.get_by_test_id("build-matches")).to_have_text("3")
    page.get_by_test_id("build-submit").click()

    expect(page.get_by_test_id("dataset-version")).to_have_text("v1")
    expect(page.get_by_test_id("dataset-item")).to_have_count(3)
    dataset = Dataset.objects.get(project=project)
    assert dataset.built_from == {"verdict": "fail", "model": "m-1", "prompt_version": "v1"}
    assert set(DatasetItem.objects.filter(dataset=dataset).values_list("trace_id", flat=True)) == {
        t.trace_id for t in failing[:3]
    }
    with page.expect_download() as download:
        page.get_by_test_id("dataset-export").click()
    lines = [json.loads(line) for line in open(download.value.path(), encoding="utf-8")]  # noqa: SIM115
    assert len(lines) == 3 and {line["dataset_version"] for line in lines} == {1}
    assert download.value.suggested_filename == f"{dataset.name.replace(' ', '-')}-v1.jsonl"

    # The divergence page: the table and a chart per metric with an offline value.
    page.goto(f"/p/{project.slug}/divergence/")
    expect(page.locator('[data-kind="divergence_chart"] [data-testid="plot"] .main-svg').first).to_be_visible()
    expect(page.locator('[data-kind="divergence"] [data-testid="divergence-flag"]')).to_have_count(1)
    page.locator('input[name="threshold"]').fill("0.4")
    page.get_by_test_id("divergence-apply").click()
    expect(page.locator('[data-kind="divergence"] [data-testid="divergence-row"]')).to_have_count(2)
    expect(page.locator('[data-kind="divergence"] [data-testid="divergence-flag"]')).to_have_count(0)


def test_add_a_trace_to_a_dataset_from_its_page(page, login, alice, project):
    trace = rag_trace(project)
    login(alice)
    page.goto(f"/p/{project.slug}/traces/{trace.trace_id}/")
    section = page.get_by_test_id("dataset-add")
    expect(section).to_contain_text("In no dataset yet.")
    section.get_by_test_id("dataset-new-name").fill("password resets")
    section.get_by_test_id("dataset-add-button").click()
    expect(page.get_by_test_id("dataset-added")).to_contain_text("Added to password resets (now version 1)")
    item = DatasetItem.objects.get(dataset__name="password resets")
    assert item.trace_id == trace.trace_id and item.context[0]["id"] == "kb-17"
    page.get_by_test_id("dataset-choice").select_option(label="password resets (v1)")
    page.get_by_test_id("dataset-add-button").click()
    expect(page.get_by_test_id("dataset-added")).to_contain_text("Already in password resets")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    expect(page.get_by_test_id("dataset-row")).to_contain_text("password resets")
