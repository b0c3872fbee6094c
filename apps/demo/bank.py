"""The demo's question bank (data/bank.json): routes, topics, their help-center articles and the answers a
support assistant gives, good or bad. The simulator draws from it and the demo judge grades against it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BANK_PATH = Path(__file__).resolve().parent / "data" / "bank.json"

GOOD = "good"
REFUSAL = "refusal"
UNGROUNDED = "ungrounded"
OUTCOMES = (GOOD, REFUSAL, UNGROUNDED)


@dataclass(frozen=True)
class Doc:
    """One help-center article as the retriever returns it."""

    id: str
    content: str


@dataclass(frozen=True)
class Topic:
    """One thing customers ask about on a route: its articles, phrasings, and the assistant's answers."""

    route: str
    name: str
    docs: tuple[Doc, ...]
    questions: tuple[str, ...]  # how customers open on this topic; the first is the plainest
    rephrasings: tuple[str, ...]  # questions[i] asked again in other words, after an answer that missed
    good: str
    ungrounded: str


@dataclass(frozen=True, eq=False)  # hashed by identity: bank_load returns one cached instance
class Bank:
    """Every route's topics, the prompt versions' system prompts, and the refusals the assistant may give."""

    product: str
    system_prompts: dict[str, str]
    topics: dict[str, tuple[Topic, ...]]  # route → topics
    refusals: tuple[str, ...]

    @property
    def routes(self) -> list[str]:
        """Return the routes in bank order."""
        return list(self.topics)

    def answer_outcome(self, answer: str) -> str | None:
        """Return the ground truth of an answer the simulator gave (good, refusal, ungrounded), None if unknown."""
        return _answer_index(self).get(answer.strip())


@lru_cache(maxsize=4)
def _answer_index(bank: Bank) -> dict[str, str]:
    index = {refusal: REFUSAL for refusal in bank.refusals}
    for topics in bank.topics.values():
        for topic in topics:
            index[topic.good] = GOOD
            index[topic.ungrounded] = UNGROUNDED
    return index


@lru_cache(maxsize=4)
def bank_load(path: Path = BANK_PATH) -> Bank:
    """Return the bank read from its JSON file (cached)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    topics = {
        route: tuple(
            Topic(
                route=route,
                name=item["topic"],
                docs=tuple(Doc(d["id"], d["content"]) for d in item["docs"]),
                questions=tuple(item["questions"]),
                rephrasings=tuple(item["rephrasings"]),
                good=item["good"],
                ungrounded=item["ungrounded"],
            )
            for item in items
        )
        for route, items in raw["routes"].items()
    }
    return Bank(
        product=raw["product"],
        system_prompts=dict(raw["system_prompts"]),
        topics=topics,
        refusals=tuple(raw["refusals"]),
    )
