"""The demo's script, with no I/O: who asks what, which prompt version and model answer, how good the answer is,
and how the user reacts. The simulator (simulator.py) plays it against the real endpoints.

The regression: `Rollout.after_seconds` of script time in, prompt version `Rollout.prompt_version` replaces its
predecessor on one route. On that route it refuses and invents far more often; users vote and retry accordingly.
An offline run of the new version, on the bank's plain phrasings, stays green.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from apps.demo.bank import GOOD, REFUSAL, UNGROUNDED, Bank, Topic

# (response model, request model, share of traffic, USD per million input / output tokens)
MODELS: tuple[tuple[str, str, float, float, float], ...] = (
    ("gpt-4o-2024-08-06", "gpt-4o", 0.6, 2.5, 10.0),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", 0.4, 0.15, 0.6),
)
# Share of bad answers per kind: steady traffic, and the regressed version on its route.
HEALTHY = {REFUSAL: 0.02, UNGROUNDED: 0.04}
REGRESSED = {REFUSAL: 0.35, UNGROUNDED: 0.20}
# The bank's plain phrasings offline: the regression shows only on real customers' wordings and conversations.
OFFLINE = {REFUSAL: 0.0, UNGROUNDED: 0.03}
ROUTE_WEIGHTS = {"/support/account": 0.35, "/support/billing": 0.4, "/support/integrations": 0.25}
MAX_TURNS = 4

# What a user does after an answer, by its outcome: the chance of each vote, and of each next step.
VOTES = {GOOD: (0.22, 0.02, 0.08), REFUSAL: (0.02, 0.45, 0.1), UNGROUNDED: (0.04, 0.35, 0.1)}  # up, down, rating
NEXT = {
    GOOD: (("follow_up", 0.35), ("end", 0.65)),
    REFUSAL: (("rephrase", 0.35), ("regenerate", 0.25), ("abandon", 0.4)),
    UNGROUNDED: (("rephrase", 0.2), ("regenerate", 0.2), ("end", 0.6)),
}
# Script seconds a user waits before the next turn, by what they do.
THINK = {"follow_up": (30.0, 90.0), "rephrase": (10.0, 45.0), "regenerate": (4.0, 15.0)}


@dataclass(frozen=True)
class Rollout:
    """The scripted regression: which version replaces which, on which route, when (script seconds)."""

    route: str = "/support/billing"
    prompt_version: str = "v4"
    previous: str = "v3"
    after_seconds: float = 180.0


@dataclass(frozen=True)
class Reaction:
    """The user's response to one answer: votes (sent as feedback) and what they do next."""

    thumbs: str = ""  # "thumbs_up", "thumbs_down" or ""
    rating: int | None = None
    next_step: str = "end"  # follow_up, rephrase, regenerate, end, abandon
    think_seconds: float = 0.0


@dataclass(frozen=True)
class Turn:
    """One request the assistant serves, with its ground truth and the user's reaction."""

    session_id: str
    user_id: str
    turn: int
    route: str
    topic: Topic
    question: str
    prompt_version: str
    model: str
    request_model: str
    outcome: str
    answer: str
    reaction: Reaction
    input_tokens: int
    output_tokens: int
    cost: float
    retrieval_ms: int
    llm_ms: int


@dataclass
class Session:
    """A user's conversation on one route: the next question to ask and when (script seconds)."""

    id: str
    user_id: str
    route: str
    topics: list[Topic]
    due: float
    turn: int = 0
    question: str = ""
    phrasing: int = 0
    asked: list[str] = field(default_factory=list)
    last_step: str = ""  # what the user did after the previous answer (regenerate, rephrase, follow_up)
    answered_ns: int = 0  # when the previous answer ended (Unix ns): the next turn starts after it
    last_trace_id: str = ""  # the previous answer's trace, which a retry reacts to
    done: bool = False


class Script:
    """Decide every turn from a seeded random generator, so a run with the same seed plays the same story."""

    def __init__(self, bank: Bank, *, seed: int = 13, rollout: Rollout | None = None) -> None:
        self.bank = bank
        self.rng = random.Random(seed)
        self.rollout = rollout or Rollout()
        self.sessions_started = 0

    def regressed(self, at: float) -> bool:
        """Whether the new prompt version is live at script time `at`."""
        return at >= self.rollout.after_seconds

    def prompt_version_for(self, route: str, at: float) -> str:
        """Return the prompt version serving `route` at script time `at` (one route still A/B tests v2)."""
        if route == self.rollout.route and self.regressed(at):
            return self.rollout.prompt_version
        if route == "/support/account" and self.rng.random() < 0.2:
            return "v2"
        return self.rollout.previous

    def session_start(self, at: float) -> Session:
        """Open a new conversation due now: a user, a route, and the topics they will ask about in order."""
        self.sessions_started += 1
        routes = list(ROUTE_WEIGHTS)
        route = self.rng.choices(routes, weights=[ROUTE_WEIGHTS[r] for r in routes])[0]
        topics = list(self.bank.topics[route])
        self.rng.shuffle(topics)
        digest = hashlib.sha256(f"{self.rng.random()}".encode()).hexdigest()
        session = Session(
            id=f"sess-{digest[:12]}",
            user_id=f"user-{self.rng.randint(1000, 1400)}",
            route=route,
            topics=topics[:MAX_TURNS],
            due=at,
        )
        self._ask(session, session.topics[0], phrasing=self.rng.randrange(len(session.topics[0].questions)))
        return session

    def _ask(self, session: Session, topic: Topic, *, phrasing: int) -> None:
        session.phrasing = phrasing % len(topic.questions)
        session.question = topic.questions[session.phrasing]

    def turn_play(self, session: Session, at: float) -> Turn:
        """Serve the session's due question at script time `at`, and plan its next turn (or its end)."""
        topic = session.topics[0]
        version = self.prompt_version_for(session.route, at)
        rates = REGRESSED if version == self.rollout.prompt_version else HEALTHY
        outcome = self.outcome_draw(rates)
        answer = self.answer_for(topic, outcome)
        model, request_model, _, in_price, out_price = self.rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
        input_tokens = 380 + sum(len(d.content) for d in topic.docs) // 4 + self.rng.randint(0, 120)
        output_tokens = max(12, len(answer) // 4 + self.rng.randint(-6, 12))
        reaction = self.reaction_draw(outcome)
        turn = Turn(
            session_id=session.id,
            user_id=session.user_id,
            turn=session.turn,
            route=session.route,
            topic=topic,
            question=session.question,
            prompt_version=version,
            model=model,
            request_model=request_model,
            outcome=outcome,
            answer=answer,
            reaction=reaction,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=round((input_tokens * in_price + output_tokens * out_price) / 1e6, 6),
            retrieval_ms=self.rng.randint(40, 260),
            llm_ms=self.rng.randint(500, 2400) + output_tokens * 8,
        )
        self._plan_next(session, reaction, at)
        return turn

    def _plan_next(self, session: Session, reaction: Reaction, at: float) -> None:
        session.turn += 1
        session.asked.append(session.question)
        step = session.last_step = reaction.next_step
        if step in ("end", "abandon") or session.turn >= MAX_TURNS:
            session.done = True
            return
        if step == "follow_up":
            session.topics.pop(0)
            if not session.topics:
                session.done = True
                return
            self._ask(session, session.topics[0], phrasing=0)
        elif step == "rephrase":
            topic = session.topics[0]
            if session.question == topic.questions[session.phrasing]:
                session.question = topic.rephrasings[session.phrasing]  # the same question in other words
            else:
                self._ask(session, topic, phrasing=session.phrasing + 1)  # rephrased already: another opening
        # regenerate: the same question again
        session.due = at + reaction.think_seconds

    def outcome_draw(self, rates: dict[str, float]) -> str:
        """Return good, refusal or ungrounded with the given chances of the bad ones."""
        draw = self.rng.random()
        if draw < rates[REFUSAL]:
            return REFUSAL
        if draw < rates[REFUSAL] + rates[UNGROUNDED]:
            return UNGROUNDED
        return GOOD

    def answer_for(self, topic: Topic, outcome: str) -> str:
        """Return the assistant's answer text for an outcome."""
        if outcome == REFUSAL:
            return self.rng.choice(self.bank.refusals)
        return topic.ungrounded if outcome == UNGROUNDED else topic.good

    def reaction_draw(self, outcome: str) -> Reaction:
        """Return how a user reacts to an answer of this outcome."""
        up, down, rating_chance = VOTES[outcome]
        draw = self.rng.random()
        thumbs = "thumbs_up" if draw < up else "thumbs_down" if draw < up + down else ""
        rating = None
        if self.rng.random() < rating_chance:
            rating = self.rng.randint(4, 5) if outcome == GOOD else self.rng.randint(1, 2)
        steps = NEXT[outcome]
        step = self.rng.choices([s for s, _ in steps], weights=[w for _, w in steps])[0]
        think = self.rng.uniform(*THINK[step]) if step in THINK else 0.0
        return Reaction(thumbs=thumbs, rating=rating, next_step=step, think_seconds=think)

    def offline_metrics(self, prompt_version: str) -> dict[str, float]:
        """Return the offline run's pass rates for a version: the bank's plain phrasings, replayed once each."""
        topics = [t for ts in self.bank.topics.values() for t in ts]
        rng = random.Random(f"offline:{prompt_version}")
        outcomes = []
        for _topic in topics:
            draw = rng.random()
            bad = OFFLINE[REFUSAL] + OFFLINE[UNGROUNDED]
            outcomes.append(REFUSAL if draw < OFFLINE[REFUSAL] else UNGROUNDED if draw < bad else GOOD)
        n = len(outcomes)
        return {
            "refusal": round(sum(o != REFUSAL for o in outcomes) / n, 4),
            "grounding": round(sum(o != UNGROUNDED for o in outcomes) / n, 4),
            "citations": round(sum(o == GOOD for o in outcomes) / n, 4),
        }
