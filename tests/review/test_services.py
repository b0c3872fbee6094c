"""Review services: routing rules, the daily cap, claims with expiry, labels as human scores."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.projects.services import project_create
from apps.review.models import Label, ReviewItem, ReviewQueue, RoutingRule
from apps.review.services import (
    LabelInput,
    RuleSpec,
    in_random_sample,
    label_record,
    review_item_claim,
    review_item_release,
    review_queue_update,
    review_route,
    review_route_batch,
)
from apps.scores.models import Score
from tests.review.factories import only_rules, reviewer, score, traces

pytestmark = pytest.mark.django_db
K = RoutingRule.Kind


def test_a_new_project_gets_default_rules_with_a_2_percent_sample(alice):
    project = project_create(name="Fresh", owner=alice)
    rules = {r.kind: r for r in RoutingRule.objects.filter(project=project)}
    assert rules[K.RANDOM_SAMPLE].sample_percent == 2.0
    assert set(rules) == set(K.values)
    assert ReviewQueue.objects.get(project=project).categories[:2] == ["hallucination", "refusal"]


def test_the_random_sample_is_deterministic_and_near_its_rate():
    ids = [f"{i:032x}" for i in range(20_000)]
    first = [in_random_sample(trace_id=t, percent=2.0) for t in ids]
    assert first == [in_random_sample(trace_id=t, percent=2.0) for t in ids]
    assert 0.017 < sum(first) / len(ids) < 0.023


def test_each_rule_kind_routes_with_its_reason(project):
    rules = only_rules(
        project,
        RuleSpec(kind=K.SCORE_BELOW, score_name="grounding", threshold=0.5, priority=60),
        RuleSpec(kind=K.CHECK_FAILED, priority=70),
        RuleSpec(kind=K.JUDGE_CONFIDENCE_BELOW, threshold=0.6, priority=50),
        RuleSpec(kind=K.NEGATIVE_FEEDBACK, priority=90),
    )
    low, failed, unsure, down, rated, fine = traces(project, 6)
    score(project, low, "grounding", "programmatic", 0.2)
    score(project, failed, "refusal", "programmatic", 0.0, passed=False)
    score(project, unsure, "helpfulness", "judge", 4.0, metadata={"confidence": 0.3})
    score(project, down, "thumbs_down", "feedback", 1.0)
    score(project, rated, "rating", "feedback", 2.0)
    score(project, fine, "grounding", "programmatic", 0.9, passed=True)
    score(project, fine, "rating", "feedback", 4.0)
    score(project, fine, "thumbs_down", "feedback", 0.0)
    pks = [t.pk for t in (low, failed, unsure, down, rated, fine)]
    assert review_route(project_id=project.id, trace_pks=pks).created == 5
    items = {i.trace_pk: i for i in ReviewItem.objects.filter(project=project)}
    assert fine.pk not in items
    assert items[low.pk].reason_texts == ["grounding = 0.2 < 0.5"]
    assert items[failed.pk].reason_texts == ["check refusal failed"]
    assert items[unsure.pk].reason_texts == ["judge helpfulness confidence 0.30 < 0.6"]
    assert items[down.pk].reason_texts == ["thumbs down"] and items[down.pk].priority == 90
    assert items[rated.pk].reason_texts == ["rating 2"]
    assert {r["rule_id"] for r in items[low.pk].reasons} == {rules[0].id}


def test_a_trace_enters_once_and_later_rules_add_reasons_and_raise_priority(project):
    only_rules(
        project,
        RuleSpec(kind=K.CHECK_FAILED, priority=70),
        RuleSpec(kind=K.NEGATIVE_FEEDBACK, priority=90, reviews_required=2),
    )
    (trace,) = traces(project, 1)
    score(project, trace, "refusal", "programmatic", 0.0, passed=False)
    review_route(project_id=project.id, trace_pks=[trace.pk])
    review_route(project_id=project.id, trace_pks=[trace.pk])  # a re-run changes nothing
    item = ReviewItem.objects.get(project=project)
    assert (item.reason_texts, item.priority, item.reviews_required) == (["check refusal failed"], 70, 1)
    score(project, trace, "thumbs_down", "feedback", 1.0)
    assert review_route(project_id=project.id, trace_pks=[trace.pk]).updated == 1
    assert review_route(project_id=project.id, trace_pks=[trace.pk]).updated == 0
    item = ReviewItem.objects.get(project=project)
    assert (item.reason_texts, item.priority, item.reviews_required) == (
        ["check refusal failed", "thumbs down"],
        90,
        2,
    )


def test_the_daily_cap_keeps_the_highest_priority_traces(project):
    only_rules(project, RuleSpec(kind=K.CHECK_FAILED, priority=70), RuleSpec(kind=K.NEGATIVE_FEEDBACK, priority=90))
    review_queue_update(project=project, daily_cap=2, categories=["x"])
    ts = traces(project, 4)
    for t in ts:
        score(project, t, "refusal", "programmatic", 0.0, passed=False)
    score(project, ts[3], "thumbs_down", "feedback", 1.0)
    result = review_route(project_id=project.id, trace_pks=[t.pk for t in ts])
    assert (result.created, result.capped) == (2, 2)
    assert ts[3].pk in set(ReviewItem.objects.values_list("trace_pk", flat=True))


def test_the_batch_consumer_applies_only_the_random_sample(project):
    only_rules(project, RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=100.0), RuleSpec(kind=K.CHECK_FAILED))
    ts = traces(project, 3)
    score(project, ts[0], "refusal", "programmatic", 0.0, passed=False)
    review_route_batch(project_id=project.id, trace_pks=[t.pk for t in ts])
    assert ReviewItem.objects.count() == 3
    assert all(i.reason_texts == ["random 100% sample"] for i in ReviewItem.objects.all())


def test_disabled_rules_and_other_projects_traces_route_nothing(project, alice):
    other = project_create(name="Other", owner=alice)
    only_rules(project, RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=100.0, is_enabled=False))
    (mine,) = traces(project, 1)
    (theirs,) = traces(other, 1)
    assert review_route(project_id=project.id, trace_pks=[mine.pk, theirs.pk]).created == 0
    only_rules(project, RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=100.0))
    assert review_route(project_id=project.id, trace_pks=[mine.pk, theirs.pk]).created == 1


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (RuleSpec(kind="nope"), "kind"),
        (RuleSpec(kind=K.SCORE_BELOW, threshold=0.5), "score_name"),
        (RuleSpec(kind=K.SCORE_BELOW, score_name="g"), "threshold"),
        (RuleSpec(kind=K.JUDGE_CONFIDENCE_BELOW, threshold=3.0), "threshold"),
        (RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=101.0), "sample_percent"),
        (RuleSpec(kind=K.CHECK_FAILED, reviews_required=0), "reviews_required"),
    ],
)
def test_bad_rules_name_the_field(project, spec, field):
    with pytest.raises(ValidationError) as exc:
        only_rules(project, spec)
    assert field in exc.value.message_dict


# -- claims ----------------------------------------------------------------------------------------


def queued(project, n: int, **rule) -> list[ReviewItem]:
    only_rules(project, RuleSpec(kind=K.RANDOM_SAMPLE, sample_percent=100.0, **rule))
    review_route(project_id=project.id, trace_pks=[t.pk for t in traces(project, n)])
    return list(ReviewItem.objects.filter(project=project).order_by("id"))


def test_next_claims_the_highest_priority_item_and_a_reload_keeps_it(project):
    queued(project, 3)
    top = ReviewItem.objects.order_by("id").last()
    ReviewItem.objects.filter(id=top.id).update(priority=99)
    ann = reviewer(project, "ann")
    assert review_item_claim(project=project, user=ann).id == top.id
    assert review_item_claim(project=project, user=ann).id == top.id
    assert ReviewItem.objects.get(id=top.id).status == ReviewItem.Status.CLAIMED


def test_an_expired_claim_returns_to_the_queue(project, settings):
    settings.REVIEW_CLAIM_SECONDS = 600
    (item,) = queued(project, 1)
    ann, ben = reviewer(project, "ann"), reviewer(project, "ben")
    now = timezone.now()
    assert review_item_claim(project=project, user=ann, now=now).id == item.id
    assert review_item_claim(project=project, user=ben, now=now + timedelta(seconds=599)) is None
    later = now + timedelta(seconds=601)
    claimed = review_item_claim(project=project, user=ben, now=later)
    assert claimed.id == item.id and claimed.claimed_by_id == ben.id


def test_an_item_needing_two_reviews_goes_to_two_different_people(project):
    (item,) = queued(project, 1, reviews_required=2)
    ann, ben, cat = reviewer(project, "ann"), reviewer(project, "ben"), reviewer(project, "cat")
    assert review_item_claim(project=project, user=ann).id == item.id
    label_record(project=project, user=ann, trace_pk=item.trace_pk, trace_id=item.trace_id, data=LabelInput("pass"))
    assert review_item_claim(project=project, user=ann) is None  # never offered again to ann
    assert review_item_claim(project=project, user=ben).id == item.id
    label_record(
        project=project,
        user=ben,
        trace_pk=item.trace_pk,
        trace_id=item.trace_id,
        data=LabelInput("fail", ["hallucination"], "The right answer", "made up a policy"),
        item_id=item.id,
    )
    item.refresh_from_db()
    assert (item.status, item.reviews_done) == (ReviewItem.Status.DONE, 2)
    assert review_item_claim(project=project, user=cat) is None


def test_skip_gives_the_item_back_but_never_to_the_skipper(project):
    (item,) = queued(project, 1)
    ann, ben = reviewer(project, "ann"), reviewer(project, "ben")
    review_item_claim(project=project, user=ann)
    assert review_item_release(project=project, user=ann, item_id=item.id, skip=True)
    assert review_item_claim(project=project, user=ann) is None
    assert review_item_claim(project=project, user=ben).id == item.id


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_an_item(project):
    queued(project, 8)
    users = [reviewer(project, f"r{i}") for i in range(4)]
    got: dict[str, list[int]] = {u.username: [] for u in users}
    barrier = threading.Barrier(len(users))

    def work(user) -> None:
        try:
            for _ in range(2):
                barrier.wait()
                item = review_item_claim(project=project, user=user)
                got[user.username].append(item.id if item else None)
                if item:
                    label_record(
                        project=project,
                        user=user,
                        trace_pk=item.trace_pk,
                        trace_id=item.trace_id,
                        data=LabelInput("pass"),
                    )
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for ids in got.values() for i in ids]
    assert None not in ids and len(ids) == len(set(ids)) == 8


# -- labels ----------------------------------------------------------------------------------------


def test_labels_become_per_reviewer_and_consensus_human_scores(project):
    (item,) = queued(project, 1, reviews_required=2)
    ann, ben = reviewer(project, "ann"), reviewer(project, "ben")
    args = {"project": project, "trace_pk": item.trace_pk, "trace_id": item.trace_id}
    label_record(user=ann, data=LabelInput("fail", ["refusal", "hallucination"]), **args)
    verdict = Score.objects.get(name="human_verdict")
    assert (verdict.source, verdict.passed, verdict.label) == ("human", False, "fail")
    assert verdict.metadata["categories"] == ["hallucination", "refusal"]
    assert verdict.model == "gpt-4o-mini"  # the trace's dimensions are copied in
    label_record(user=ben, data=LabelInput("pass", [], "", "fine"), **args)
    per_reviewer = {s.evaluator_version: s for s in Score.objects.filter(name="human_label")}
    assert set(per_reviewer) == {f"reviewer:{ann.id}", f"reviewer:{ben.id}"}
    assert per_reviewer[f"reviewer:{ann.id}"].metadata["categories"] == ["hallucination", "refusal"]
    assert per_reviewer[f"reviewer:{ben.id}"].passed is True
    verdict = Score.objects.get(name="human_verdict")
    assert (verdict.label, verdict.passed, verdict.value) == ("disputed", None, 0.5)
    # Relabeling replaces the reviewer's label instead of adding one.
    label_record(user=ben, data=LabelInput("fail"), **args)
    assert Label.objects.count() == 2
    assert Score.objects.get(name="human_verdict").label == "fail"


def test_a_label_with_an_unknown_category_or_verdict_is_refused(project):
    (trace,) = traces(project, 1)
    ann = reviewer(project, "ann")
    for data, field in ((LabelInput("maybe"), "verdict"), (LabelInput("fail", ["nope"]), "categories")):
        with pytest.raises(ValidationError) as exc:
            label_record(project=project, user=ann, trace_pk=trace.pk, trace_id=trace.trace_id, data=data)
        assert field in exc.value.message_dict


# -- the scores subscription -----------------------------------------------------------------------


class Recorder:
    """Stands in for task_enqueue: records each call's arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def __call__(self, *args: object) -> bool:
        self.calls.append(args)
        return True


def test_score_writes_enqueue_routing_after_commit_but_labels_do_not(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import transaction

    enqueue = Recorder()
    monkeypatch.setattr("apps.review.services.task_enqueue", enqueue)
    (trace,) = traces(project, 1)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            score(project, trace, "refusal", "programmatic", 0.0, passed=False)
            assert enqueue.call_count == 0  # nothing before the commit
    assert enqueue.call_count == 1
    assert enqueue.calls[0][1:] == (project.id, [trace.pk])
    with django_capture_on_commit_callbacks(execute=True):
        label_record(
            project=project,
            user=reviewer(project, "ann"),
            trace_pk=trace.pk,
            trace_id=trace.trace_id,
            data=LabelInput("pass"),
        )
    assert enqueue.call_count == 1  # human scores route nothing


def test_a_rolled_back_score_write_notifies_nobody(project, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import transaction

    enqueue = Recorder()
    monkeypatch.setattr("apps.review.services.task_enqueue", enqueue)
    (trace,) = traces(project, 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                score(project, trace, "refusal", "programmatic", 0.0, passed=False)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == [] and enqueue.call_count == 0


def test_the_data_migration_gives_existing_projects_the_defaults_once(project):
    import importlib

    from django.apps import apps as django_apps

    migration = importlib.import_module("apps.review.migrations.0002_default_rules_for_existing_projects")
    RoutingRule.objects.filter(project=project).delete()
    ReviewQueue.objects.filter(project=project).delete()
    migration.forwards(django_apps, None)
    migration.forwards(django_apps, None)  # idempotent
    kinds = sorted(RoutingRule.objects.filter(project=project).values_list("kind", flat=True))
    assert kinds == sorted(K.values)
    assert RoutingRule.objects.get(project=project, kind=K.RANDOM_SAMPLE).sample_percent == 2.0
    assert ReviewQueue.objects.filter(project=project).count() == 1
