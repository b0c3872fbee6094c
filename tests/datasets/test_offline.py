"""Offline runs: precomputed metrics, items scored by a real worker with the online evaluator versions, bad input."""

from __future__ import annotations

import json
import time

import pytest

from apps.datasets.models import OfflineRun
from apps.datasets.offline import offline_run_step
from apps.evaluators.models import Evaluator
from apps.evaluators.services import EvaluatorSpec, evaluations_run, evaluator_create, judge_request_run
from apps.judges.models import JudgeRequest
from apps.judges.services import judge_create
from apps.scores.models import Score
from tests.support.openai_server import Reply
from tests.traces.factories import rag_trace

CONTEXT = [{"id": "kb-17", "content": "To reset a password, open Settings → Security."}]
ITEMS = [
    {"input": "How do I reset my password?", "output": "Open Settings → Security [kb-17].", "context": CONTEXT},
    {
        "input": "How do I reset my password?",
        "output": "I'm sorry, but I can't help with that request.",
        "context": CONTEXT,
        "expected": "Open Settings → Security.",
    },
    {"input": "Hi", "output": "   "},
]


def judge_answer(score: int) -> str:
    return json.dumps({"score": score, "confidence": 0.9, "reason": "graded"})


@pytest.fixture
def judge_evaluator(project, fake_openai):
    judge = judge_create(
        project=project,
        name="grader",
        base_url=fake_openai.base_url,
        model="judge-model-2024-08-06",
        api_key="sk-test-stored",
        timeout_s=2.0,
    )
    spec = EvaluatorSpec(
        name="helpfulness", kind="llm_judge", config={"rubric": "helpfulness"}, filters={}, sample_rate=0.5, judge=judge
    )
    return evaluator_create(project=project, spec=spec)


def wait_for(run_id: int, seconds: float = 60) -> OfflineRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = OfflineRun.objects.get(id=run_id)
        if run.is_finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {OfflineRun.objects.get(id=run_id).status}")


@pytest.mark.django_db(transaction=True)
def test_items_are_scored_by_a_real_worker_with_the_evaluator_versions_that_score_live_traffic(
    api_client, project, judge_evaluator, fake_openai, celery_worker
):
    # Live traffic first: one trace scored by every enabled evaluator (the judge directly, not sampled away).
    # The judge's answer is set first: the real worker may take the queued request before this test runs it.
    fake_openai.default = Reply(content=judge_answer(4))
    for _ in range(30):  # the judge samples half of live traffic: take a trace it sampled
        trace = rag_trace(project, prompt_version="v9")
        evaluations_run(project_id=project.id, trace_pks=[trace.id])
        if JudgeRequest.objects.filter(trace=trace).exists():
            break
    for request in JudgeRequest.objects.filter(trace=trace):
        judge_request_run(request_id=request.id)  # a no-op for one the worker holds: then wait for its score
    deadline = time.monotonic() + 30
    while not Score.objects.filter(trace=trace, name="helpfulness").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    online = {s.name: s for s in Score.objects.filter(trace=trace, source__in=["programmatic", "judge"])}
    assert {"not_empty", "refusal", "citations", "grounding", "helpfulness"} <= set(online)
    fake_openai.requests.clear()
    fake_openai.replies.extend([Reply(content=judge_answer(5)), Reply(content=judge_answer(1))])
    fake_openai.default = Reply(content=judge_answer(2))

    response = api_client.post(
        "/api/v1/offline-runs",
        {
            "name": "ci #412",
            "model": "gpt-4o-2024-08-06",
            "prompt_version": "v9",
            "git_revision": "3f2a9c1",
            "items": ITEMS,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["mode"], response.json()["items_total"]) == (
        "pending",
        "items",
        3,
    )
    run = wait_for(response.json()["id"])
    assert (run.status, run.error) == ("done", "")

    body = api_client.get(f"/api/v1/offline-runs/{run.id}").json()
    metrics = {m["name"]: m for m in body["metrics"]}
    # The same evaluator rows at the same versions as online, judge model included.
    for name in ("not_empty", "refusal", "citations", "grounding", "helpfulness"):
        assert metrics[name]["evaluator_version"] == online[name].evaluator_version, name
    assert metrics["helpfulness"]["judge_model"] == online["helpfulness"].judge_model == "judge-model-2024-08-06"
    assert {e["name"]: e["version"] for e in body["evaluators"]}["helpfulness"] == judge_evaluator.version
    # Every item is judged (the online 50 % sample is about cost): 3 requests, one per item, carrying its answer.
    assert len(fake_openai.requests) == 3
    assert "Open Settings → Security [kb-17]." in json.dumps(fake_openai.requests[0]["json"], ensure_ascii=False)
    # Pass rates over the items, as online reads them.
    assert metrics["not_empty"]["value"] == pytest.approx(2 / 3) and metrics["not_empty"]["count"] == 3
    assert (metrics["refusal"]["value"], metrics["refusal"]["count"]) == (0.5, 2)  # the check skips an empty answer
    assert metrics["helpfulness"]["value"] == pytest.approx(1 / 3)  # 5 passes; 1 and 2 fail
    assert metrics["citations"]["count"] == 2  # only the items with retrieved context
    assert body["git_revision"] == "3f2a9c1" and body["model"] == "gpt-4o-2024-08-06"


@pytest.mark.django_db
def test_an_evaluator_edited_mid_run_fails_the_run_instead_of_mixing_versions(project):
    from apps.datasets.offline import RunItemInput, offline_run_create

    items = [RunItemInput(input=i["input"], output=i["output"], context=i.get("context", [])) for i in ITEMS]
    run = offline_run_create(project=project, name="r", prompt_version="v1", items=items)
    assert offline_run_step(run_id=run.id, chunk=1).more is True
    Evaluator.objects.filter(project=project, name="refusal").update(version="edited")  # what an edit does
    offline_run_step(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "failed" and "changed during the run" in run.error
    assert not run.metrics.exists()


@pytest.mark.django_db
def test_precomputed_metrics_are_stored_at_once(api_client):
    response = api_client.post(
        "/api/v1/offline-runs",
        {
            "name": "nightly",
            "prompt_version": "v9",
            "model": "m-1",
            "metrics": {"grounding": 0.91, "helpfulness": {"value": 0.8, "count": 250}},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["mode"], body["dataset"]) == ("done", "metrics", None)
    assert {m["name"]: (m["value"], m["count"]) for m in body["metrics"]} == {
        "grounding": (0.91, None),
        "helpfulness": (0.8, 250),
    }
    listed = api_client.get("/api/v1/offline-runs?prompt_version=v9").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]] and listed["next_cursor"] is None
    later = api_client.post(
        "/api/v1/offline-runs", {"name": "n2", "prompt_version": "v9", "metrics": {"x": 0.5}}, format="json"
    ).json()
    first = api_client.get("/api/v1/offline-runs?limit=1").json()
    assert [r["id"] for r in first["results"]] == [later["id"]]
    rest = api_client.get(f"/api/v1/offline-runs?limit=1&cursor={first['next_cursor']}").json()
    assert ([r["id"] for r in rest["results"]], rest["next_cursor"]) == ([body["id"]], None)
    for bad in ("limit=0", "cursor=x"):
        response = api_client.get(f"/api/v1/offline-runs?{bad}")
        assert (response.status_code, response.json()["field"]) == (400, bad.split("=")[0])
    assert api_client.get("/api/v1/offline-runs?prompt_version=v10").json()["results"] == []


@pytest.mark.django_db
def test_a_run_names_its_dataset_and_version(api_client):
    dataset = api_client.post("/api/v1/datasets", {"name": "d"}, format="json").json()
    api_client.post(
        f"/api/v1/datasets/{dataset['id']}/items", {"items": [{"input": "q", "output": "a"}]}, format="json"
    )
    body = api_client.post(
        "/api/v1/offline-runs",
        {"name": "r", "prompt_version": "v1", "dataset": dataset["id"], "metrics": {"x": 1}},
        format="json",
    ).json()
    assert (body["dataset"], body["dataset_version"]) == (dataset["id"], 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt_version": "v1", "metrics": {"x": 1}}, "name"),
        ({"name": "r", "metrics": {"x": 1}}, "prompt_version"),
        ({"name": "r", "prompt_version": "v1"}, "items"),
        ({"name": "r", "prompt_version": "v1", "metrics": {"x": 1}, "items": [{"input": "q", "output": "a"}]}, "items"),
        ({"name": "r", "prompt_version": "v1", "items": []}, "items"),
        ({"name": "r", "prompt_version": "v1", "items": [{"input": "q"}]}, "items[0].output"),
        (
            {"name": "r", "prompt_version": "v1", "items": [{"input": "q", "output": "a", "context": "x" * 3}]},
            "items[0].context",
        ),
        ({"name": "r", "prompt_version": "v1", "metrics": {}}, "metrics"),
        ({"name": "r", "prompt_version": "v1", "metrics": {"grounding": "high"}}, "metrics.grounding"),
        (
            {"name": "r", "prompt_version": "v1", "metrics": {"grounding": {"value": 0.5, "count": -1}}},
            "metrics.grounding.count",
        ),
        ({"name": "r", "prompt_version": "v1", "metrics": {"grounding": {"mean": 0.5}}}, "metrics.grounding.mean"),
        ({"name": "r", "prompt_version": "v1", "dataset": 999999, "metrics": {"x": 1}}, "dataset"),
        ({"name": "r", "prompt_version": "v1", "dataset": "abc", "metrics": {"x": 1}}, "dataset"),
        ({"name": "r" * 201, "prompt_version": "v1", "metrics": {"x": 1}}, "name"),
    ],
)
@pytest.mark.django_db
def test_bad_offline_runs_are_400s_naming_the_field(api_client, body, field):
    response = api_client.post("/api/v1/offline-runs", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field, response.json()
    assert not OfflineRun.objects.exists()


@pytest.mark.django_db
def test_unknown_runs_are_404s(api_client):
    response = api_client.get("/api/v1/offline-runs/424242")
    assert (response.status_code, response.json()["field"]) == (404, "run_id")


@pytest.mark.django_db
def test_a_judge_outage_hands_the_run_back_and_keeps_what_was_graded(project, judge_evaluator, fake_openai):
    from apps.datasets.offline import OfflineRunRetry, RunItemInput, offline_run_create

    items = [RunItemInput(input=i["input"], output=i["output"], context=i.get("context", [])) for i in ITEMS]
    run = offline_run_create(project=project, name="r", prompt_version="v1", items=items)
    fake_openai.replies.extend([Reply(content=judge_answer(5)), Reply(status=503)])
    fake_openai.default = Reply(content=judge_answer(1))
    with pytest.raises(OfflineRunRetry):
        offline_run_step(run_id=run.id)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("pending", 1) and "judge unavailable" in run.error
    first = run.items.get(index=0)
    assert first.is_scored and first.results["helpfulness"]["value"] == 5.0  # kept: not graded twice
    assert offline_run_step(run_id=run.id).more is True  # the rest of the chunk, after the outage
    assert offline_run_step(run_id=run.id).more is False  # the metrics
    run.refresh_from_db()
    assert run.status == "done"
    assert run.metrics.get(name="helpfulness").value == pytest.approx(1 / 3)
    judged = [r for r in fake_openai.requests if r["path"].endswith("/chat/completions")]
    assert len(judged) == 3 + 1  # one per item, plus the refused attempt
