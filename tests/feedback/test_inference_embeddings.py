"""The embeddings path of the rephrase detector: the real openai client against the fake server, its errors,
the judge-configured endpoint, and the lexical fallback. The fake's vectors are not semantic, so this tests the
plumbing, not the accuracy (the lexical figures are in test_inference_detectors.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.feedback.inference.detectors import LexicalScorer
from apps.feedback.inference.embeddings import EmbeddingScorer, EmbeddingsUnavailable, cosine, embedder_for_project
from apps.feedback.inference.services import session_signals_infer
from apps.judges.llm import JudgeConfig, JudgeOutputInvalid, JudgeUnavailable, OpenAIEmbeddings
from apps.judges.services import judge_create, judge_embedder_for_project
from apps.traces.models import Trace
from tests.support.openai_server import Reply

EMBEDDINGS_MODEL = "text-embedding-3-small"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def client(fake, **overrides) -> OpenAIEmbeddings:
    config = dict(base_url=fake.base_url, api_key="sk-test", model=EMBEDDINGS_MODEL, allowed_hosts=("127.0.0.1",))
    return OpenAIEmbeddings(JudgeConfig(**{**config, **overrides}))


def test_embed_sends_one_batch_and_returns_vectors_in_order(fake_openai):
    fake_openai.replies.append(Reply(embeddings=[[1.0, 0.0], [0.0, 1.0]]))
    assert client(fake_openai).embed(["first", "second"]) == [[1.0, 0.0], [0.0, 1.0]]
    [request] = fake_openai.requests
    assert request["path"] == "/v1/embeddings"
    assert request["json"]["model"] == EMBEDDINGS_MODEL and request["json"]["input"] == ["first", "second"]
    assert request["headers"]["Authorization"] == "Bearer sk-test"


def test_embed_default_vectors_are_equal_for_equal_texts(fake_openai):
    a, b, c = client(fake_openai).embed(["cancel my plan", "Cancel my plan", "weather in Paris"])
    assert cosine(a, b) == pytest.approx(1.0) and cosine(a, c) < 0.5


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (Reply(status=429, headers={"Retry-After": "7"}), JudgeUnavailable, "HTTP 429"),
        (Reply(status=503), JudgeUnavailable, "HTTP 503"),
        (Reply(status=400), JudgeOutputInvalid, "HTTP 400"),
        (Reply(embeddings=[[1.0, 0.0]]), JudgeOutputInvalid, "1 vectors for 2 texts"),
        (Reply(embeddings=[[1.0, 0.0], [1.0]]), JudgeOutputInvalid, "ragged"),
        (Reply(raw_body=b"not json"), JudgeOutputInvalid, "malformed"),
    ],
)
def test_embed_errors_are_transient_or_permanent_like_a_judges(fake_openai, reply, error, match):
    fake_openai.replies.append(reply)
    with pytest.raises(error, match=match) as caught:
        client(fake_openai).embed(["a", "b"])
    if reply.status == 429:
        assert caught.value.retry_after == 7


def test_embed_refuses_a_loopback_endpoint_an_admin_did_not_allow(fake_openai):
    with pytest.raises(JudgeOutputInvalid, match="refused"):
        client(fake_openai, allowed_hosts=()).embed(["a"])
    assert fake_openai.requests == []


@pytest.mark.django_db
def test_the_projects_embeddings_judge_provides_the_embedder(fake_openai, project):
    assert judge_embedder_for_project(project_id=project.id) is None
    assert embedder_for_project(project.id) is None  # through the settings' provider path
    judge_create(project=project, name="embeddings", base_url=fake_openai.base_url, model=EMBEDDINGS_MODEL,
                 api_key="sk-embed")  # fmt: skip
    embedder = embedder_for_project(project.id)
    assert embedder is not None
    fake_openai.replies.append(Reply(status=500))
    with pytest.raises(EmbeddingsUnavailable) as caught:
        embedder.embed(["x"])
    assert caught.value.transient is True
    fake_openai.replies.append(Reply(status=401))
    with pytest.raises(EmbeddingsUnavailable) as caught:
        embedder.embed(["x"])
    assert caught.value.transient is False
    assert fake_openai.requests[-1]["headers"]["Authorization"] == "Bearer sk-embed"
    embedder.close()


class BrokenEmbedder:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def embed(self, texts):
        raise self.error

    def close(self) -> None:
        return None


def test_the_scorer_falls_back_to_lexical_when_the_endpoint_fails():
    scorer = EmbeddingScorer(BrokenEmbedder(EmbeddingsUnavailable("HTTP 503", transient=True)), threshold=0.8)
    pairs = [("Cancel my subscription", "How do I stop my plan from renewing?")]
    [score] = scorer.score(pairs)
    assert score.method == "lexical (embeddings failed: HTTP 503)"
    assert (score.similarity, score.threshold) == (LexicalScorer().score(pairs)[0].similarity, 0.55)
    assert scorer.failure is not None and scorer.failure.transient


def a_turn(n: int, at: float, text: str) -> dict:
    started = T0 + timedelta(seconds=at)
    return {
        "trace_id": f"{n:032x}",
        "session_id": "sess-9",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=3)).isoformat(),
        "input": text,
        "output": "an answer",
    }


@pytest.fixture
def session(api_client, project):
    """A stored session: a regeneration, then a restatement, then silence."""
    turns = [
        a_turn(1, 0, "How do I reset my password?"),
        a_turn(2, 17, "How do I reset my password?"),
        a_turn(3, 60, "I forgot my password, how can I get back into my account?"),
    ]
    assert api_client.post("/api/v1/traces", {"traces": turns}, format="json").json()["accepted"] == 3
    return project


@pytest.mark.django_db
def test_session_signals_without_an_embeddings_endpoint_are_lexical(session):
    signals = session_signals_infer(project_id=session.id, session_id="sess-9", now=T0 + timedelta(hours=2))
    pk = {t.trace_id: t.pk for t in Trace.objects.filter(project=session)}
    found = [(s.kind, s.trace_id, s.trace_pk, s.reason.split(" (")[0]) for s in signals]
    assert found == [
        ("regenerate", f"{1:032x}", pk[f"{1:032x}"], "same input 14 s later"),
        ("rephrase", f"{2:032x}", pk[f"{2:032x}"], "restated 40 s later"),
        ("abandon", f"{3:032x}", pk[f"{3:032x}"], "no further turn within 30 min"),
    ]
    assert "lexical similarity" in signals[1].reason
    # Before the abandon window closes there is no abandon yet, and a later `now` changes nothing else.
    early = session_signals_infer(project_id=session.id, session_id="sess-9", now=T0 + timedelta(minutes=5))
    assert [s.kind for s in early] == ["regenerate", "rephrase"]
    assert early == signals[:2]


@pytest.mark.django_db
def test_session_signals_use_the_embeddings_judge_in_one_call(session, fake_openai):
    judge_create(project=session, name="embeddings", base_url=fake_openai.base_url, model=EMBEDDINGS_MODEL,
                 api_key="sk-embed")  # fmt: skip
    # Scripted: the two messages point the same way (cosine 0.96), above the 0.75 threshold.
    fake_openai.replies.append(Reply(embeddings=[[1.0, 0.0], [0.96, 0.28]]))
    signals = session_signals_infer(project_id=session.id, session_id="sess-9", now=T0 + timedelta(minutes=5))
    rephrase = next(s for s in signals if s.kind == "rephrase")
    assert "embeddings similarity 0.96" in rephrase.reason and rephrase.value == pytest.approx(0.96)
    [request] = fake_openai.requests  # only the pair that needs judging was embedded, in one batch
    assert request["json"]["input"] == [
        "How do I reset my password?",
        "I forgot my password, how can I get back into my account?",
    ]

    # Orthogonal vectors: the endpoint says "different", and the detector follows it.
    fake_openai.replies.append(Reply(embeddings=[[1.0, 0.0], [0.0, 1.0]]))
    signals = session_signals_infer(project_id=session.id, session_id="sess-9", now=T0 + timedelta(minutes=5))
    assert [s.kind for s in signals] == ["regenerate"]


@pytest.mark.django_db
def test_session_signals_fall_back_to_lexical_when_the_endpoint_fails(session, fake_openai, caplog):
    judge_create(project=session, name="embeddings", base_url=fake_openai.base_url, model=EMBEDDINGS_MODEL,
                 api_key="sk-embed")  # fmt: skip
    fake_openai.replies.append(Reply(status=503))
    signals = session_signals_infer(project_id=session.id, session_id="sess-9", now=T0 + timedelta(minutes=5))
    rephrase = next(s for s in signals if s.kind == "rephrase")
    assert "lexical (embeddings failed: judge endpoint answered HTTP 503" in rephrase.reason
    assert "rephrase fell back to lexical" in caplog.text
