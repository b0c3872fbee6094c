"""The demo's script and bank, without I/O: the shape of the traffic, the scripted regression, the offline run."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.demo.bank import GOOD, REFUSAL, UNGROUNDED, bank_load
from apps.demo.scenario import MODELS, ROUTE_WEIGHTS, Rollout, Script, Turn
from apps.evaluators.checks import CHECKS
from apps.evaluators.subject import Document, Subject
from apps.feedback.inference.detectors import LexicalScorer, rephrase_decide


def play(script: Script, *, requests: int, step: float = 2.0) -> list[Turn]:
    """Play the script as the simulator does: a due session's next turn, else a new session."""
    sessions, turns, at = [], [], 0.0
    for _ in range(requests):
        due = [s for s in sessions if s.due <= at]
        session = min(due, key=lambda s: s.due) if due else script.session_start(at)
        if not due:
            sessions.append(session)
        turns.append(script.turn_play(session, at))
        if session.done:
            sessions.remove(session)
        at += step
    return turns


def check(name: str, answer: str, docs: list[Document]) -> tuple[bool | None, str]:
    result = CHECKS[name].run(Subject(trace_id="t", output=answer, documents=docs), CHECKS[name].with_defaults({}))
    return result.passed, result.label


def test_every_bank_answer_is_what_it_claims_to_the_programmatic_checks():
    bank = bank_load()
    topics = [t for ts in bank.topics.values() for t in ts]
    assert len(topics) >= 15 and all(len(t.questions) == len(t.rephrasings) >= 3 for t in topics)
    for topic in topics:
        docs = [Document(id=d.id, content=d.content) for d in topic.docs]
        assert check("grounding", topic.good, docs)[0] is True, topic.name
        assert check("citations", topic.good, docs)[0] is True, topic.name
        assert check("refusal", topic.good, docs)[0] is True, topic.name
        assert check("grounding", topic.ungrounded, docs) == (False, "ungrounded"), topic.name
    for refusal in bank.refusals:
        assert check("refusal", refusal, [])[0] is False, refusal


def test_the_banks_rephrasings_read_as_rephrasings_to_the_implicit_detector():
    scorer = LexicalScorer()
    pairs = [
        (q, r)
        for ts in bank_load().topics.values()
        for t in ts
        for q, r in zip(t.questions, t.rephrasings, strict=True)
    ]
    decided = [
        rephrase_decide(q, r, score).is_rephrase for (q, r), score in zip(pairs, scorer.score(pairs), strict=True)
    ]
    assert sum(decided) / len(decided) > 0.85  # a few are left for the lexical reading to miss, as real users do


def test_the_script_sends_every_route_both_models_and_multi_turn_sessions():
    turns = play(Script(bank_load(), seed=5, rollout=Rollout(after_seconds=1e9)), requests=1500)
    routes = Counter(t.route for t in turns)
    for route, weight in ROUTE_WEIGHTS.items():
        assert routes[route] / len(turns) == pytest.approx(weight, abs=0.06)
    models = Counter(t.model for t in turns)
    for model, _, share, _, _ in MODELS:
        assert models[model] / len(turns) == pytest.approx(share, abs=0.06)
    assert {t.prompt_version for t in turns} == {"v2", "v3"}  # v2 is an A/B arm on /support/account only
    assert {t.route for t in turns if t.prompt_version == "v2"} == {"/support/account"}
    per_session = Counter(t.session_id for t in turns)
    assert max(per_session.values()) >= 3 and sum(n > 1 for n in per_session.values()) > len(per_session) * 0.2
    outcomes = Counter(t.outcome for t in turns)
    assert outcomes[GOOD] / len(turns) == pytest.approx(0.94, abs=0.03)


def test_users_retry_rephrase_and_abandon_bad_answers_and_vote_on_them():
    turns = play(Script(bank_load(), seed=6, rollout=Rollout(after_seconds=0)), requests=1500)
    by_session: dict[str, list[Turn]] = {}
    for turn in turns:
        by_session.setdefault(turn.session_id, []).append(turn)
    steps = Counter(t.reaction.next_step for t in turns if t.outcome != GOOD)
    assert steps["regenerate"] > 20 and steps["rephrase"] > 20 and steps["abandon"] > 20
    for session in by_session.values():
        for earlier, later in zip(session, session[1:], strict=False):
            if earlier.reaction.next_step == "regenerate":
                assert later.question == earlier.question
            elif earlier.reaction.next_step == "rephrase":
                assert later.topic == earlier.topic and later.question != earlier.question
                if earlier.question in earlier.topic.questions:
                    index = earlier.topic.questions.index(earlier.question)
                    assert later.question == earlier.topic.rephrasings[index]
    down = Counter(t.outcome for t in turns if t.reaction.thumbs == "thumbs_down")
    total = Counter(t.outcome for t in turns)
    assert down[REFUSAL] / total[REFUSAL] > 0.3 > 0.05 > down[GOOD] / total[GOOD]


def test_the_rollout_regresses_one_route_from_its_time_on():
    rollout = Rollout(route="/support/billing", prompt_version="v4", previous="v3", after_seconds=600)
    turns = play(Script(bank_load(), seed=7, rollout=rollout), requests=1200, step=1.0)
    before, after = turns[:600], turns[600:]
    assert "v4" not in {t.prompt_version for t in before}
    assert {t.prompt_version for t in after if t.route == "/support/billing"} == {"v4"}
    assert "v4" not in {t.prompt_version for t in after if t.route != "/support/billing"}

    def bad_share(rows: list[Turn], kind: str) -> float:
        return sum(t.outcome == kind for t in rows) / len(rows)

    v4 = [t for t in after if t.prompt_version == "v4"]
    others = [t for t in after if t.prompt_version != "v4"]
    assert bad_share(v4, REFUSAL) > 0.25 > 0.05 > bad_share(others, REFUSAL)
    assert bad_share(v4, UNGROUNDED) > 0.12 > 0.07 > bad_share(others, UNGROUNDED)


def test_the_offline_run_of_the_regressing_version_stays_green():
    metrics = Script(bank_load()).offline_metrics("v4")
    assert set(metrics) == {"refusal", "grounding", "citations"}
    assert all(value >= 0.9 for value in metrics.values())
