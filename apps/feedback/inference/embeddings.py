"""Rephrase similarity from the project's OpenAI-compatible embeddings endpoint, with the lexical fallback.

Feedback sits below judges, which own the only OpenAI client (apps/judges/llm.py). So this module names the
provider by a dotted path in settings (FEEDBACK_EMBEDDER_PROVIDER, like LOG_EVALUATION_CONSUMERS) and never
imports it: the provider returns an Embedder for a project, or None when the project has no embeddings endpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from apps.feedback.inference.detectors import LexicalScorer, PairScore

__all__ = ["EmbeddingScorer", "Embedder", "EmbeddingsUnavailable", "cosine", "embedder_for_project"]


class EmbeddingsUnavailable(Exception):
    """The embeddings endpoint could not give vectors; `transient` says whether a later try may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class Embedder(Protocol):
    """Turns texts into vectors; raises EmbeddingsUnavailable on any failure."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text, in order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def embedder_for_project(project_id: int) -> Embedder | None:
    """Return the project's embedder from the configured provider, or None when there is none."""
    path = getattr(settings, "FEEDBACK_EMBEDDER_PROVIDER", "")
    if not path:
        return None
    provider = import_string(path)
    return provider(project_id=project_id)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Return the cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbeddingScorer:
    """Score pairs by the cosine of their embeddings, in one call per batch; fall back to lexical on failure."""

    method = "embeddings"

    def __init__(self, embedder: Embedder, *, threshold: float, fallback: LexicalScorer | None = None) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.fallback = fallback or LexicalScorer()
        self.failure: EmbeddingsUnavailable | None = None  # the last failure, for logs and tests

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
        """Return the embeddings similarity of each pair, or every pair's lexical score if the endpoint fails."""
        texts = list(dict.fromkeys(text for pair in pairs for text in pair))
        if not texts:
            return []
        try:
            vectors = self.embedder.embed(texts)
            if len(vectors) != len(texts):
                raise EmbeddingsUnavailable(f"{len(vectors)} vectors for {len(texts)} texts", transient=False)
            by_text = dict(zip(texts, vectors, strict=True))
            return [PairScore(cosine(by_text[a], by_text[b]), self.threshold, self.method) for a, b in pairs]
        except (EmbeddingsUnavailable, ValueError) as exc:
            # ValueError: vectors of different widths. Either way the lexical reading still gives an answer.
            failure = (
                exc if isinstance(exc, EmbeddingsUnavailable) else EmbeddingsUnavailable(str(exc), transient=False)
            )
            self.failure = failure
            method = f"lexical (embeddings failed: {failure.message[:80]})"
            return [PairScore(s.similarity, s.threshold, method) for s in self.fallback.score(pairs)]
