"""The optimised checks keep their verdicts: stored results on a spread of answers (grounding and citations
re-stored for logic version 2: numbers with units, negation, cited documents must support the sentence)."""

from __future__ import annotations

import re

import pytest

from apps.evaluators.checks import run_check
from apps.evaluators.checks.text import (
    ASCII_WORD_TOKEN_RE,
    NUMBER_WORD_SET,
    NUMBER_WORDS,
    STOPWORDS,
    WORD_TOKEN_RE,
    content_terms,
    normalise_number,
    split_sentences,
    stem,
)
from apps.evaluators.subject import Document, Subject

DOCS = [
    Document(
        "kb-1",
        "Billing. Annual plans renew every 12 months and cost $1,299.50; monthly plans cost $129. Refunds "
        "are issued within 30 days. Dr. Smith approved the policy in 2024, e.g. for twenty seats.",
    ),
    Document(
        "kb-2",
        "Security. Passwords must have twelve characters. Admins can’t export audit logs older than 90 "
        "days; the export runs nightly at 2 a.m. and retries three times.",
    ),
    Document("kb-3", "Regions: EU and US. Backups are restored within 4 hours. Webhooks retry with backoff."),
    Document("", "Données stockées en Europe pendant 30 jours. Die Sicherung dauert 4 Stunden."),
]
CASES = {
    "grounded-cited": "Annual plans renew every 12 months and cost $1,299.50 [1]. Refunds are issued within 30 days [1]. "
    "Passwords must have twelve characters [2].",
    "ungrounded-numbers": "Annual plans cost $999 [1]. Backups are restored within 8 hours [3]. The export runs "
    "nightly at 2 a.m. and retries three times [2][7].",
    "uncited-long": "Admins can't export audit logs older than 90 days, and the export runs nightly at 2 a.m. with "
    "three retries, according to the security policy that Dr. Smith approved.",
    "refusal": "I'm sorry, but I can't help with that request.",
    "partial-refusal": "I can't share internal pricing. However, you can check the billing page: 1. open settings "
    "2. click billing 3. compare annual and monthly plans for your workspace and seats.",
    "long-refusal-opening": "As an AI language model, I don't have access to your account. "
    + "Details follow here. " * 40,
    "quoted-refusal": 'The app shows "I cannot process this request" when the token expired; refresh the token and '
    "retry the export from the dashboard [2].",
    "unicode": "Die Sicherung dauert 4 Stunden (source: kb-3). Données stockées en Europe pendant 30 jours. "
    "It’s restored within four hours — “usually” faster.",
    "bullets-code": "Steps:\n- Open settings [1].\n- Run `export --days 90` nightly [2].\n```\ncode 12 34\n```\n"
    "> quoted line 77\nSources: kb-1, kb-2",
    "empty": "   ",
}


def subjects() -> dict[str, Subject]:
    """The cases as subjects over DOCS, plus a content-filtered and a truncated answer."""
    out = {}
    for name, text in CASES.items():
        out[name] = Subject(trace_id=name, output=text, documents=DOCS, finish_reason="stop")
    out["content-filter"] = Subject(trace_id="cf", output="", documents=DOCS, finish_reason="content_filter")
    out["truncated"] = Subject(trace_id="tr", output="Annual plans renew every", documents=[], finish_reason="length")
    return out


EXPECTED = {
    'bullets-code': {
        'citations': (0.7142857142857143, False, 'unsupported_citation', "2 of 3 cited sentences are not supported by the documents they cite: 'Open settings.' (0% of its terms found) cites kb-1; 'quoted line 77' (answer says 77, which no document states) cites kb-1+kb-2."),
        'grounding': (0.0, False, 'ungrounded', "0 of 2 claims are supported by the retrieved documents. Unsupported: 'quoted line 77' (answer says 77, which no document states); 'Sources: kb-1, kb-2' (answer says 1, which no document states)."),
        'not_empty': (1.0, True, 'ok', 'The answer has 121 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'content-filter': {
        'citations': None,
        'grounding': None,
        'not_empty': (0.0, False, 'empty', "The answer is empty (finish_reason 'content_filter'). Check the prompt, the model's stop sequences, and whether a tool or guardrail swallowed the reply."),
        'refusal': (1.0, False, 'content_filter', "The provider's safety filter stopped the answer (finish_reason 'content_filter'); look at the request for content the filter blocks."),
    },
    'empty': {
        'citations': None,
        'grounding': None,
        'not_empty': (0.0, False, 'empty', "The answer is whitespace only (finish_reason 'stop'). Check the prompt, the model's stop sequences, and whether a tool or guardrail swallowed the reply."),
        'refusal': None,
    },
    'grounded-cited': {
        'citations': (1.0, True, 'ok', 'All 2 cited sources exist among the 4 retrieved documents, and the 3 cited sentences are supported by them.'),
        'grounding': (1.0, True, 'grounded', '3 of 3 claims are supported by the retrieved documents.'),
        'not_empty': (1.0, True, 'ok', 'The answer has 140 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'long-refusal-opening': {
        'citations': (1.0, True, 'ok', 'No citations, but the answer is a refusal.'),
        'grounding': (1.0, True, 'no_claims', 'The answer makes no factual claims to check.'),
        'not_empty': (1.0, True, 'ok', 'The answer has 901 characters.'),
        'refusal': (1.0, False, 'refusal', 'The model declined: "As an AI language model, I don\'t have access to your account.".'),
    },
    'partial-refusal': {
        'citations': (0.0, False, 'uncited', 'The answer makes 1 factual claims (29 words) but cites none of the 4 retrieved documents; ask the model to cite sources like [1] or [doc-id].'),
        'grounding': (0.0, False, 'ungrounded', "0 of 1 claims are supported by the retrieved documents. Unsupported: 'However, you can check the billing page: 1. open settings 2. click billing 3. compare ann…' (answer says 1, which no document states)."),
        'not_empty': (1.0, True, 'ok', 'The answer has 172 characters.'),
        'refusal': (0.5, True, 'partial_refusal', 'The model declined part of the request ("I can\'t share internal pricing.") but went on to help (24 words of guidance follow).'),
    },
    'quoted-refusal': {
        'citations': (0.5, False, 'unsupported_citation', '1 of 1 cited sentences are not supported by the documents they cite: \'The app shows "I cannot process this request" when the token expired; refresh the token a…\' (20% of its terms found) cites kb-2.'),
        'grounding': (0.0, False, 'ungrounded', '0 of 1 claims are supported by the retrieved documents. Unsupported: \'The app shows "I cannot process this request" when the token expired; refresh the token a…\' (20% of its terms found).'),
        'not_empty': (1.0, True, 'ok', 'The answer has 132 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'refusal': {
        'citations': (1.0, True, 'ok', 'No citations, but the answer is a refusal.'),
        'grounding': (1.0, True, 'no_claims', 'The answer makes no factual claims to check.'),
        'not_empty': (1.0, True, 'ok', 'The answer has 46 characters.'),
        'refusal': (1.0, False, 'refusal', 'The model declined: "I\'m sorry, but I can\'t help with that request.".'),
    },
    'truncated': {
        'citations': None,
        'grounding': None,
        'not_empty': (0.0, False, 'truncated', "The model hit its output limit (finish_reason 'length') after 24 characters; the answer ends with: Annual plans renew every. Raise max_tokens or ask for a shorter answer."),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'uncited-long': {
        'citations': (0.0, False, 'uncited', 'The answer makes 1 factual claims (30 words) but cites none of the 4 retrieved documents; ask the model to cite sources like [1] or [doc-id].'),
        'grounding': (1.0, True, 'grounded', '1 of 1 claims are supported by the retrieved documents.'),
        'not_empty': (1.0, True, 'ok', 'The answer has 166 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'ungrounded-numbers': {
        'citations': (0.5714285714285714, False, 'dangling_citation', '1 of 4 citations point at no retrieved document: [7]. 4 documents were retrieved (numbers must be 1–4; ids: kb-1, kb-2, kb-3). Also 2 cited sentences are unsupported.'),
        'grounding': (0.33333333333333337, False, 'ungrounded', "1 of 3 claims are supported by the retrieved documents. Unsupported: 'Annual plans cost $999.' (answer says $999; kb-1 says $1,299.50); 'Backups are restored within 8 hours.' (answer says 8 hours; kb-3 says 4 hours)."),
        'not_empty': (1.0, True, 'ok', 'The answer has 134 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
    'unicode': {
        'citations': (0.5, False, 'unsupported_citation', "1 of 1 cited sentences are not supported by the documents they cite: 'Die Sicherung dauert 4 Stunden.' (25% of its terms found) cites kb-3."),
        'grounding': (1.0, True, 'grounded', '3 of 3 claims are supported by the retrieved documents.'),
        'not_empty': (1.0, True, 'ok', 'The answer has 143 characters.'),
        'refusal': (0.0, True, 'answer', 'No refusal phrase in the opening of the answer.'),
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_results_match_the_stored_expectation(name: str) -> None:
    subject = subjects()[name]
    for kind, expected in EXPECTED[name].items():
        result = run_check(kind, {}, subject)
        got = None if result is None else (result.value, result.passed, result.label, result.explanation)
        assert got == expected, kind


def _reference_content_terms(text: str) -> tuple[set[str], set[str]]:
    """content_terms as it was before the fast paths: token patterns only."""
    lowered = text.lower()
    tokens = set((ASCII_WORD_TOKEN_RE if lowered.isascii() else WORD_TOKEN_RE).findall(lowered))
    numbers = {NUMBER_WORDS[t] for t in tokens & NUMBER_WORD_SET}
    numbers.update(map(normalise_number, set(re.findall(r"[0-9]+(?:[.,][0-9]+)*", lowered))))
    words = {stem(t) for t in tokens - STOPWORDS - NUMBER_WORD_SET if len(t) > 1}
    return words, numbers


@pytest.mark.parametrize(
    "text",
    [
        "don't 'quoted' dogs' '' a'b'c x''y it's I'M HERE o'",
        "1,299.50 3.5. 1..2 1,,2 05 0.50 .5 5. twenty two's ten-fold x2 2x",
        "Café naïve ZÜRICH 4 Stunden – it’s",
        "Tabs\tand\nnew-lines, under_scores and CamelCase; a b c d (e) [f]",
        "",
    ],
)
def test_content_terms_match_the_token_patterns(text: str) -> None:
    assert content_terms(text) == _reference_content_terms(text)


def test_split_sentences_limit_stops_early_with_the_same_sentences() -> None:
    text = "First one here. Second one here. Third one here. Fourth one here."
    everything = [(s.text, s.start) for s in split_sentences(text)]
    assert [(s.text, s.start) for s in split_sentences(text, limit=2)] == everything[:2]
