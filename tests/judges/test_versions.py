"""Judge versions: edits make versions, scores record them, shadows are promoted by a person, deactivation."""

from __future__ import annotations

import pytest

from apps.evaluators.models import Evaluator
from apps.evaluators.services import EvaluatorSpec, evaluator_create, judge_request_run, judge_requests_create
from apps.judges.models import JudgeRequest, JudgeVersion
from apps.scores.models import Score
from tests.judges.calibration_helpers import PINNED, judge_on, verdict_reply
from tests.traces.factories import simple_trace

pytestmark = [pytest.mark.django_db]

BINARY = {"rubric": "overall", "criteria": "The answer serves the user.", "scale": "binary"}


def test_creating_a_judge_makes_version_one(admin_api_client, project, fake_openai):
    response = admin_api_client.post(
        "/api/v1/judges", {"name": "g", "base_url": fake_openai.base_url, "model": PINNED}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["version"] == 1
    version = JudgeVersion.objects.get(judge_id=response.json()["id"])
    assert (version.number, version.status, version.model) == (1, "current", PINNED)


def test_patch_that_changes_what_the_judge_computes_bumps_the_version(admin_api_client, project, fake_openai):
    judge = judge_on(project, fake_openai, input_price_per_mtok=2.5)
    url = f"/api/v1/judges/{judge.id}"

    renamed = admin_api_client.patch(
        url, {"name": "renamed", "regression_margin": 0.2, "input_price_per_mtok": None}, format="json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 1  # a name, a margin or a price are not what a verdict means
    judge.refresh_from_db()
    assert (judge.name, judge.regression_margin, judge.input_price_per_mtok) == ("renamed", 0.2, None)

    edited = admin_api_client.patch(
        url, {"model": "test-model-2025-01-01", "rubric_criteria": "Be strict.", "temperature": 0.5}, format="json"
    )
    body = edited.json()
    assert edited.status_code == 200 and body["version"] == 2 and body["model"] == "test-model-2025-01-01"
    versions = {v["number"]: v for v in body["versions"]}
    assert versions[1]["status"] == "retired" and versions[1]["model"] == PINNED  # the old one stays readable
    assert versions[2]["status"] == "current"
    assert versions[2]["rubric"]["criteria"] == "Be strict." and versions[2]["params"]["temperature"] == 0.5

    same = admin_api_client.patch(url, {"model": "test-model-2025-01-01"}, format="json")
    assert same.json()["version"] == 2  # no change, no version


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scale": "stars"}, "scale"),
        ({"temperature": 7}, "temperature"),
        ({"rubric_criteria": ""}, "rubric_criteria"),
        ({"scale": "binary", "pass_threshold": 3}, "pass_threshold"),
        ({"model": " "}, "model"),
    ],
)
def test_patch_names_the_bad_field(admin_api_client, project, fake_openai, body, field):
    judge = judge_on(project, fake_openai)
    response = admin_api_client.patch(f"/api/v1/judges/{judge.id}", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert JudgeVersion.objects.filter(judge=judge).count() == 1


def test_shadow_version_is_promoted_by_a_person(admin_api_client, project, fake_openai):
    judge = judge_on(project, fake_openai)
    response = admin_api_client.patch(
        f"/api/v1/judges/{judge.id}", {"model": "test-model-next", "shadow": True}, format="json"
    )
    assert response.json()["version"] == 1 and response.json()["model"] == PINNED  # live traffic unchanged
    shadow = JudgeVersion.objects.get(judge=judge, number=2)
    assert shadow.status == "shadow"

    promoted = admin_api_client.post(f"/api/v1/judges/{judge.id}/versions/2/promote")
    assert promoted.status_code == 200 and promoted.json()["status"] == "current"
    judge.refresh_from_db()
    assert judge.model == "test-model-next"
    assert JudgeVersion.objects.get(judge=judge, number=1).status == "retired"
    missing = admin_api_client.post(f"/api/v1/judges/{judge.id}/versions/9/promote")
    assert missing.status_code == 404 and missing.json()["field"] == "number"


def test_scores_record_the_judge_version_and_a_model_mismatch(project, fake_openai):
    judge = judge_on(project, fake_openai)
    evaluator = evaluator_create(
        project=project,
        spec=EvaluatorSpec(name="overall", kind="llm_judge", config=BINARY, filters={}, judge=judge),
    )
    first, second = simple_trace(project), simple_trace(project)
    fake_openai.replies.append(verdict_reply(True, model=PINNED))
    ids = judge_requests_create(project=project, pairs=[(evaluator, first.pk)])
    judge_request_run(request_id=ids[0])
    score = Score.objects.get(trace_id=first.pk, name="overall")
    assert score.metadata["judge_version"] == 1 and score.metadata["model_mismatch"] is False

    from apps.judges.services import judge_update

    judge_update(judge=judge, model="test-model-2025-01-01")
    evaluator.refresh_from_db()
    assert evaluator.version != score.evaluator_version  # the edit re-derived the evaluator's version
    # The endpoint answers with a model other than the pin: the judgment is flagged and counted on the version.
    fake_openai.replies.append(verdict_reply(True, model="test-model-2025-06-30"))
    ids = judge_requests_create(project=project, pairs=[(evaluator, second.pk)])
    judge_request_run(request_id=ids[0])
    score = Score.objects.get(trace_id=second.pk, name="overall")
    assert score.metadata["judge_version"] == 2 and score.metadata["model_mismatch"] is True
    assert score.evaluator_version == evaluator.version
    version = JudgeVersion.objects.get(judge=judge, number=2)
    assert (version.judged_count, version.mismatch_count) == (1, 1)
    assert version.last_mismatch_model == "test-model-2025-06-30"


def test_a_deactivated_judge_stops_judging_and_keeps_its_history(admin_api_client, project, fake_openai):
    judge = judge_on(project, fake_openai)
    evaluator = evaluator_create(
        project=project,
        spec=EvaluatorSpec(name="overall", kind="llm_judge", config=BINARY, filters={}, judge=judge),
    )
    trace = simple_trace(project)
    ids = judge_requests_create(project=project, pairs=[(evaluator, trace.pk)])
    response = admin_api_client.patch(f"/api/v1/judges/{judge.id}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    judge_request_run(request_id=ids[0])
    assert JudgeRequest.objects.get(id=ids[0]).error == "judge deactivated"
    assert fake_openai.requests == []  # nothing was sent
    from apps.evaluators.selectors import subjects_build
    from apps.evaluators.services import evaluate_subjects

    evaluator = Evaluator.objects.select_related("judge").get(id=evaluator.id)
    _, judged = evaluate_subjects(evaluators=[evaluator], subjects=subjects_build(trace_pks=[trace.pk]))
    assert judged == []
    assert JudgeVersion.objects.filter(judge=judge).count() == 1  # history kept


def test_test_connection_shows_the_answer_or_the_error(admin_api_client, project, fake_openai):
    judge = judge_on(project, fake_openai)
    fake_openai.replies.append(verdict_reply(True, model="test-model-other"))
    ok = admin_api_client.post(f"/api/v1/judges/{judge.id}/test").json()
    assert ok["ok"] is True and ok["label"] == "pass" and ok["reason"] == "graded"
    assert ok["model_reported"] == "test-model-other" and ok["is_model_mismatch"] is True
    assert len(fake_openai.requests) == 1 and fake_openai.requests[0]["json"]["model"] == PINNED

    from tests.support.openai_server import Reply

    fake_openai.replies.append(Reply(status=401))
    failed = admin_api_client.post(f"/api/v1/judges/{judge.id}/test").json()
    assert failed["ok"] is False and failed["error_kind"] == "permanent" and "HTTP 401" in failed["error"]


def test_other_projects_judges_are_not_found(admin_api_client, project, fake_openai):
    from apps.projects.models import Project

    other = Project.objects.create(name="Other", slug="other")
    judge = judge_on(other, fake_openai)
    for path in ("", "/agreement"):
        assert admin_api_client.get(f"/api/v1/judges/{judge.id}{path}").status_code == 404
    assert admin_api_client.patch(f"/api/v1/judges/{judge.id}", {"name": "x"}, format="json").status_code == 404
