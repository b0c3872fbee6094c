"""The demo judge through the real judge client: it follows the ground truth, with noise and a length bias."""

from __future__ import annotations

import httpx
import pytest

from apps.demo.bank import GOOD, REFUSAL, UNGROUNDED, bank_load
from apps.demo.judge_server import DEMO_JUDGE_MODEL, DemoServer, demo_verdict, pass_chance
from apps.demo.seed_data import BAD_ANSWERS, QUESTIONS, seed_answer_outcome
from apps.judges.llm import JudgeInput
from apps.judges.rubrics import ANSWER_RELEVANCE, FAITHFULNESS
from apps.judges.services import judge_client_for, judge_create


@pytest.fixture
def demo_server():
    server = DemoServer().start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_demo_judge_verdicts_follow_the_ground_truth_with_noise(project, demo_server, judge_hosts_allowed):
    judge = judge_create(project=project, name="demo judge", base_url=demo_server.base_url, model=DEMO_JUDGE_MODEL)
    client = judge_client_for(judge)
    bank = bank_load()
    right = wrong = 0
    for topics in bank.topics.values():
        for topic in topics:
            contexts = [d.content for d in topic.docs]
            for question in topic.questions[:2]:
                for answer, truth in ((topic.good, True), (topic.ungrounded, False), (bank.refusals[0], False)):
                    verdict = client.grade(
                        rubric=FAITHFULNESS, item=JudgeInput(question=question, answer=answer, contexts=contexts)
                    )
                    assert verdict.model_reported == DEMO_JUDGE_MODEL and verdict.reason
                    right, wrong = (right + 1, wrong) if verdict.passed == truth else (right, wrong + 1)
    accuracy = right / (right + wrong)
    assert 0.8 < accuracy < 0.99  # mostly right, never perfect: a judge to calibrate, not an oracle
    item = JudgeInput(question="Refund?", answer=bank.refusals[0], contexts=["Annual plans are refunded."])
    first, second = (client.grade(rubric=FAITHFULNESS, item=item) for _ in range(2))
    assert (first.label, first.confidence, first.reason) == (second.label, second.confidence, second.reason)
    good = bank.topics["/support/billing"][0].good
    likert = client.grade(rubric=ANSWER_RELEVANCE, item=JudgeInput(question="Refund?", answer=good))
    assert likert.label in {"1", "2", "3", "4", "5"}


def test_demo_judge_is_kinder_to_longer_answers():
    for outcome in (GOOD, UNGROUNDED, REFUSAL, None):
        short, long = pass_chance(outcome, "x" * 100), pass_chance(outcome, "x" * 400)
        assert short < long <= short + 0.08


def test_demo_server_receives_the_alert_webhook(demo_server):
    seen = []
    demo_server.on_alert = seen.append
    response = httpx.post(demo_server.webhook_url, json={"state": "firing", "message": "Refusal rate 40 %"})
    assert response.status_code == 200 and seen == [{"state": "firing", "message": "Refusal rate 40 %"}]
    assert httpx.post(f"http://127.0.0.1:{demo_server.port}/elsewhere", json={}).status_code == 404


def test_the_demo_judge_grades_the_static_seed_from_its_ground_truth():
    bank = bank_load()
    assert seed_answer_outcome(BAD_ANSWERS[0]) == REFUSAL and seed_answer_outcome(BAD_ANSWERS[3]) == UNGROUNDED
    assert all(seed_answer_outcome(a) == GOOD for _, a, _ in QUESTIONS)
    # Over many questions the bad answers mostly fail and the good ones mostly pass (verdicts vary with the input).
    passes = {True: 0, False: 0}
    for n in range(200):
        for answer in [*BAD_ANSWERS[::2], QUESTIONS[n % 4][1]]:
            good = seed_answer_outcome(answer) == GOOD
            passes[good] += demo_verdict(bank, judge_messages(answer, question=f"question {n}"))["verdict"] == "pass"
    assert passes[True] / 200 > 0.85 and passes[False] / 400 < 0.2, passes


def judge_messages(answer: str, *, question: str = "Refund?") -> list[dict[str, str]]:
    """The messages a binary-verdict judge request carries (the real client's answer block)."""
    user = f"<untrusted_question>{question}</untrusted_question>\n<untrusted_answer>\n{answer}\n</untrusted_answer>"
    return [{"role": "system", "content": 'Answer with JSON {"verdict": ...}'}, {"role": "user", "content": user}]
