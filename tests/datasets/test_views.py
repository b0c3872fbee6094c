"""Dataset pages: who may build, what a bad filter shows, the session export, the trace page's fragment."""

from __future__ import annotations

import json

import pytest

from apps.datasets.models import Dataset
from apps.datasets.services import ItemInput, dataset_create, dataset_items_add
from apps.review.services import LabelInput, label_record
from tests.review.factories import reviewer
from tests.traces.factories import rag_trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(project):
    trace = rag_trace(project)
    label_record(
        project=project,
        user=reviewer(project, "dana"),
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        data=LabelInput("fail", ["hallucination"]),
    )
    return trace


def test_a_viewer_reads_but_cannot_build(client, bob, project, failed):
    client.force_login(bob)  # a viewer
    assert client.get(f"/p/{project.slug}/datasets/").status_code == 200
    page = client.get(f"/p/{project.slug}/datasets/new/?prompt_version=v7")
    assert page.status_code == 200 and "Only reviewers and admins build datasets." in page.content.decode()
    refused = client.post(f"/p/{project.slug}/datasets/new/", {"name": "mine"})
    assert refused.status_code == 400 and not Dataset.objects.exists()
    fragment = client.post(f"/p/{project.slug}/datasets/add-trace/{failed.trace_id}/", {"new_name": "x"})
    assert fragment.status_code == 200 and not Dataset.objects.exists()


def test_an_outsider_does_not_see_the_projects_datasets(client, carol, project):
    client.force_login(carol)
    assert client.get(f"/p/{project.slug}/datasets/").status_code == 404  # as every project page: no existence leak


def test_an_admin_builds_and_a_bad_filter_is_named(client, alice, project, failed):
    client.force_login(alice)
    preview = client.get(f"/p/{project.slug}/datasets/new/?category=hallucination", HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and 'data-testid="build-matches">1<' in preview.content.decode()
    bad = client.get(f"/p/{project.slug}/datasets/new/?since=yesterday")
    assert bad.status_code == 400 and "since: not an ISO 8601 time" in bad.content.decode()
    built = client.post(f"/p/{project.slug}/datasets/new/", {"name": "halluc", "category": "hallucination"})
    dataset = Dataset.objects.get(name="halluc")
    assert built.status_code == 302 and built["Location"] == f"/p/{project.slug}/datasets/{dataset.id}/"
    assert (dataset.version, dataset.items.count()) == (1, 1)
    detail = client.get(built["Location"]).content.decode()
    assert failed.trace_id in detail and "hallucination" in detail


def test_the_session_export_names_its_version(client, alice, project, failed):
    dataset, _ = dataset_create(project=project, name="d")
    dataset_items_add(dataset=dataset, items=[ItemInput(trace_id=failed.trace_id)])
    dataset_items_add(dataset=dataset, items=[ItemInput(input="q", output="a")])
    client.force_login(alice)
    response = client.get(f"/p/{project.slug}/datasets/{dataset.id}/export/?version=1")
    assert response["X-Sightline-Dataset-Version"] == "1"
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [line["trace_id"] for line in lines] == [failed.trace_id]


def test_the_trace_page_loads_the_add_to_dataset_fragment(client, alice, project, failed):
    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/traces/{failed.trace_id}/").content.decode()
    assert f"/p/{project.slug}/datasets/add-trace/{failed.trace_id}/" in page
    assert client.get(f"/p/{project.slug}/datasets/add-trace/{'0' * 32}/").status_code == 404
    response = client.post(f"/p/{project.slug}/datasets/add-trace/{failed.trace_id}/", {"dataset": "abc"})
    assert response.status_code == 400 and "choose a dataset or name a new one" in response.content.decode()
