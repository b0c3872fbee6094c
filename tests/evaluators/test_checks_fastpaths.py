"""The checks' fast paths give the same results as the plain code they replace.

Each fast path (bytes tokenizing in content_terms, the inlined abbreviation test and the re-spelt patterns) is
swapped back for its reference version here, and every default check is run both ways over the evaluation
benchmark's generated subjects plus hand-written edge cases.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.evaluators.checks import CHECKS, quantities, rag, refusal, support, text
from apps.evaluators.checks.text import (
    ASCII_NON_CONTENT,
    ASCII_NON_WORD_TO_SPACE,
    ASCII_WORD_TOKEN_RE,
    NUMBER_TOKEN_RE,
    NUMBER_WORD_SET,
    NUMBER_WORDS,
    STOPWORDS,
    WORD_RE,
    WORD_TOKEN_RE,
    Sentence,
    normalise_number,
    stem,
)
from apps.evaluators.subject import Document, Subject
from benchmarks.test_evaluate_bench import unique_rag_trace

KINDS = ("not_empty", "refusal", "json_valid", "citations", "grounding")

# --- the reference versions -----------------------------------------------------------------

REFERENCE_BOUNDARY_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
REFERENCE_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in refusal.REFUSAL_PATTERNS), re.I)
REFERENCE_STRIPS = (
    ("[", re.compile(r"\[[^\[\]\n]{1,40}\](?!\()|\]\([^)\s]*\)")),
    *support.STRIPS[1:4],
    ("*", re.compile(r"\*{1,3}")),
    ("__", re.compile(r"_{2,3}")),
)


def reference_content_terms(value: str) -> tuple[set[str], set[str]]:
    """content_terms as it was before the bytes path."""
    lowered = value.lower()
    if lowered.isascii():
        tokens = set(lowered.translate(ASCII_NON_WORD_TO_SPACE).split())
        if "'" in lowered:
            quoted = {t for t in tokens if "'" in t}
            tokens -= quoted
            for run in quoted:
                tokens.update(ASCII_WORD_TOKEN_RE.findall(run))
        words = set(map(stem, tokens - ASCII_NON_CONTENT))
    else:
        tokens = set(WORD_TOKEN_RE.findall(lowered))
        words = {stem(t) for t in tokens - STOPWORDS - NUMBER_WORD_SET if len(t) > 1}
    numbers = set(map(normalise_number, NUMBER_TOKEN_RE.findall(lowered)))
    spelled = tokens & NUMBER_WORD_SET
    if spelled:
        numbers.update(NUMBER_WORDS[t] for t in spelled)
    return words, numbers


def reference_split_sentences(value: str, limit: int | None = None) -> list[Sentence]:
    """split_sentences as it was: the abbreviation test through _is_abbreviation, the original boundary pattern."""
    sentences: list[Sentence] = []
    offset = 0
    for line in value.split("\n"):
        line_start = offset
        offset += len(line) + 1
        bullet = text.BULLET_RE.match(line)
        start = bullet.end() if bullet else 0
        if not line[start:].strip():
            continue
        for boundary in REFERENCE_BOUNDARY_RE.finditer(line, start):
            dot, end = boundary.span()
            if line[dot] == "." and text._is_abbreviation(line, dot, end):
                continue
            chunk = line[start:end]
            stripped = chunk.strip()
            if stripped and (stripped[0].isalnum() or WORD_RE.search(stripped)):
                sentences.append(Sentence(stripped, line_start + start + chunk.index(stripped[0])))
            start = end
            if limit is not None and len(sentences) >= limit:
                return sentences[:limit]
        text._append(sentences, line[start:], line_start + start)
        if limit is not None and len(sentences) >= limit:
            return sentences[:limit]
    return sentences


def reference_may_refuse(sentence: str) -> bool:
    """The refusal gate as it was: WORD_RE's tokens of the lowercased sentence."""
    return not refusal.TRIGGER_WORDS.isdisjoint(WORD_RE.findall(sentence.lower()))


def reference_tidy(value: str) -> str:
    """support._tidy as it was: a template substitution after a search."""
    pattern = support.SPACE_BEFORE_PUNCT_RE
    return pattern.sub(r"\1", value) if pattern.search(value) else value


def reference_currency_before(value: str, start: int) -> tuple[str | None, int]:
    """quantities._currency_before as it was: the pattern at every number."""
    if not start:
        return None, start
    found = quantities.PREFIX_CURRENCY_RE.search(value, max(0, start - 4), start)
    if found is None:
        return None, start
    at = found.start()
    if at and value[at - 1].isalpha():
        return None, start
    return found.group().strip(), at


# --- the subjects ---------------------------------------------------------------------------

EDGE_ANSWERS = [
    "**Annual plans** renew every 12 months [1]. __Refunds__ take 30 days ___ [2]. See [the docs](https://x.io/a) "
    "and [1](x) or ][2](y).\nSources: kb-1, kb-2",
    "References: the employee handbook. Dr. Smith approved it, e.g. for twenty seats, etc. The end. J. Smith agrees.",
    "Plans cost $1,299.50 or 1.,2 or 05 or 3.50 (source: kb-3). It’s restored within four hours — “usually”.",
    "ſources: kb-1\nThe \u212aelvin-scale policy isn't ours. Citation: [doc-2]",
    "I'm sorry, but I can't help with that. However, you can open settings and export the audit log for 90 days.",
    "x'sorry, but Ican't do that under the content policy. Against my policy, I must decline.",
    "Lo siento, pero no puedo ayudarte con eso. Je ne peux pas répondre. Ich kann Ihnen nicht helfen.",
    "As an AI language model, I don't have access to your account... Really?! Yes.) Next. (a) b. fig. below.",
    "- first point about billing 12 days.\n- second [3]\n1. numbered 4 days\n> quoted 77\n```\ncode 12\n```",
]


def _subjects() -> list[Subject]:
    rng = random.Random(5)
    now = datetime.now(UTC)
    subjects = []
    for n in range(300):
        trace = unique_rag_trace(rng, n, now)
        documents = [Document(d["id"], d["content"], d["score"]) for d in trace["spans"][0]["documents"]]
        output = trace["output"] if n % 3 else EDGE_ANSWERS[n // 3 % len(EDGE_ANSWERS)] + " " + trace["output"]
        if n % 7 == 0:
            output = EDGE_ANSWERS[n % len(EDGE_ANSWERS)]
        subjects.append(Subject(trace_id=str(n), output=output, documents=documents, finish_reason="stop"))
    return subjects


def _clear_caches() -> None:
    for cached in (
        support.document_terms,
        support._sentence_analysis,
        support._sentence_flags,
        support.document_sentences,
        support.verbatim_chunks,
        support.document_tokens,
        support.document_numbers,
    ):
        cached.cache_clear()


def _run_all(subjects: list[Subject]) -> list[tuple]:
    _clear_caches()
    results = []
    for kind in KINDS:
        check = CHECKS[kind]
        config = check.validate_config({})
        for subject in subjects:
            if check.applies(subject, config):
                result = check.run(subject, config)
                results.append((kind, subject.trace_id, result.value, result.passed, result.label, result.explanation))
            else:
                results.append((kind, subject.trace_id, None))
    _clear_caches()
    return results


def test_default_checks_match_the_reference_code(monkeypatch: pytest.MonkeyPatch) -> None:
    subjects = _subjects()
    fast = _run_all(subjects)
    monkeypatch.setattr(support, "content_terms", reference_content_terms)
    monkeypatch.setattr(support, "split_sentences", reference_split_sentences)
    monkeypatch.setattr(rag, "split_sentences", reference_split_sentences)
    monkeypatch.setattr(refusal, "split_sentences", reference_split_sentences)
    monkeypatch.setattr(refusal, "REFUSAL_RE", REFERENCE_REFUSAL_RE)
    monkeypatch.setattr(support, "STRIPS", REFERENCE_STRIPS)
    monkeypatch.setattr(support, "CITATION_MARKER_RE", REFERENCE_STRIPS[0][1])
    monkeypatch.setattr(rag, "_may_have_sources_line", lambda _text: True)
    monkeypatch.setattr(refusal, "may_refuse", reference_may_refuse)
    monkeypatch.setattr(refusal, "refusal_pattern_for", lambda _sentence: REFERENCE_REFUSAL_RE)
    monkeypatch.setattr(support, "_tidy", reference_tidy)
    monkeypatch.setattr(quantities, "_currency_before", reference_currency_before)
    reference = _run_all(subjects)
    assert fast == reference
    assert {r[4] for r in fast if len(r) > 3} >= {"ok", "grounded", "ungrounded", "refusal", "answer"}


def test_content_terms_match_the_reference() -> None:
    samples = [s.output for s in _subjects()] + [d.content for s in _subjects()[:50] for d in s.documents]
    samples += EDGE_ANSWERS + ["", "'", "'quoted' don't", "1.,2", ",5", "0.0", "\u212a", "İstanbul 3", "ﬁve 5"]
    for sample in samples:
        for piece in [sample, *(s.text for s in text.split_sentences(sample))]:
            assert text.content_terms(piece) == reference_content_terms(piece), piece


def test_patterns_match_their_reference_spelling() -> None:
    rng = random.Random(3)
    pairs = [
        (text.BOUNDARY_RE, REFERENCE_BOUNDARY_RE, "ab .!?…\"'”’)] \n\tX"),
        (support.STRIPS[4][1], REFERENCE_STRIPS[4][1], "a**_ \n"),
        (support.STRIPS[5][1], REFERENCE_STRIPS[5][1], "a_*_ \n"),
        (support.CITATION_MARKER_RE, REFERENCE_STRIPS[0][1], "ab[]( \n"),
    ]
    for fast, reference, alphabet in pairs:
        for _ in range(20_000):
            sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            if fast is support.CITATION_MARKER_RE and "](" in sample:
                continue  # only used without "]("
            assert [m.span() for m in fast.finditer(sample)] == [m.span() for m in reference.finditer(sample)]
    for sample in EDGE_ANSWERS + [s.output for s in _subjects()[:60]]:
        for sentence in text.split_sentences(sample):
            fast_spans = [m.span() for m in refusal.REFUSAL_RE.finditer(sentence.text)]
            assert fast_spans == [m.span() for m in REFERENCE_REFUSAL_RE.finditer(sentence.text)]
        if sample.isascii() and rag.SOURCES_LINE_RE.search(sample):
            assert rag._may_have_sources_line(sample)


def test_small_fast_paths_match_their_reference() -> None:
    """The refusal gate's byte-table tokens, the marker tidy's byte-table pre-test, the currency look-behind's
    pre-test and the id separators' translate answer as the code they replaced, on random text over the characters
    that matter."""
    rng = random.Random(7)
    tidy_alphabet = ["a", "b", " ", "\t", "\n", "\x1c", "\x0b", ".", ",", ";", ":", "!", "?", "[1]", "é", "\u00a0"]
    gate_words = ["can't", "cant", "x'sorry", "'not'", "don't", "I", "Ican't", "policy", "no", "won't", "help", "a"]
    gate_marks = [" ", " ", "'", "’", ",", ".", "-", "_", "1", "é", "\t"]
    currency = ["$", "us$", "usd", "€", "eur", "£", "gbp", "¥", "chf", "deur", "d", "r", " ", "\t", "\x1c", "a", "5"]
    for _ in range(20_000):
        sample = "".join(rng.choice(tidy_alphabet) for _ in range(rng.randint(0, 12)))
        assert support._tidy(sample) == reference_tidy(sample), repr(sample)
        sentence = "".join(rng.choice(gate_words) + rng.choice(gate_marks) for _ in range(rng.randint(0, 6)))
        sentence = sentence.upper() if rng.random() < 0.2 else sentence
        assert refusal.may_refuse(sentence) == reference_may_refuse(sentence), repr(sentence)
        prefix = "".join(rng.choice(currency) for _ in range(rng.randint(0, 3)))
        value = prefix + "5 days"
        assert quantities._currency_before(value, len(prefix)) == reference_currency_before(value, len(prefix))
        identifier = "".join(
            rng.choice(["kb", "1", "-", "_", ":", "#", ".", "/", " ", "\t", "\x1c", "é"]) for _ in range(4)
        )
        assert rag._bare_id(identifier) == rag.ID_SEPARATORS_RE.sub("", identifier), repr(identifier)
    corpus = Path(__file__).parent / "corpus" / "refusal.jsonl"
    refusals = [json.loads(line)["text"] for line in corpus.read_text().splitlines() if line.strip()]
    for sample in EDGE_ANSWERS + refusals + [s.output for s in _subjects()[:60]]:
        for sentence in text.split_sentences(sample):
            assert refusal.may_refuse(sentence.text) == reference_may_refuse(sentence.text)
            assert support._tidy(sentence.text) == reference_tidy(sentence.text)


def test_document_word_lookups_match_the_word_set() -> None:
    """A claim word looked up in a document's text (Source.held's first words) is found exactly when the
    document's content_terms word set holds it: every stem of the vocabulary and of the document, asked of random
    ASCII documents over inflected words, stopwords, numbers and punctuation."""
    rng = random.Random(13)
    vocabulary = (
        "policy policies policied classes class passes process status analysis creations creation created stopped "
        "stopping running runs use used using uses need needed speed bring thing things rings ring us is as a an "
        "the not 12 3.5 day days renew renewal renewed plans plan planning billing bills eye eyes ties tied "
        "quickly edly ingly sings gas gases bus buses x y zz abc two twelve hundred 1,299.50 05"
    ).split()
    marks = [" ", " ", ", ", ". ", "-", "\n", "(", ") ", "/", ": ", "; "]
    stems = {text.stem(w) for w in vocabulary} | set(vocabulary) | {w[:-1] for w in vocabulary if len(w) > 1}
    for _ in range(3_000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 30))]
        words = [w.upper() if rng.random() < 0.1 else w for w in words]
        document = "".join(w + rng.choice(marks) for w in words)
        tokens = support.document_tokens(document)
        assert tokens is not None
        held = support.document_terms(document)[0]
        for word in stems:
            assert support._holds_word(tokens, word) == (word in held), (document, word)
        numbers = support.document_terms(document)[1]
        assert support.document_numbers(document) == numbers
        for number in ("0", "1", "2", "3.5", "5", "12", "100", "1299.5", *numbers):
            assert support.document_states_number(document, number) == (number in numbers), (document, number)
        source = support.Source("d", (document,))
        for _ in range(4):
            asked = frozenset(rng.sample(sorted(stems), rng.randint(0, 6)))
            assert source.held(asked) == len(asked & held)
    assert support.document_tokens("l'essai") is None and support.document_tokens("café") is None


def test_refusal_literal_gate_keeps_every_match() -> None:
    """Running only the refusal patterns whose plain strings a sentence holds finds the same matches as the whole
    alternation: on the refusal corpus, the edge cases and the bench answers, and on random sentences made of the
    patterns' own strings (so many of them do match), in any case."""
    assert not refusal._UNKEYED  # every pattern is gated by some string of its own
    corpus = Path(__file__).parent / "corpus" / "refusal.jsonl"
    refusals = [json.loads(line)["text"] for line in corpus.read_text().splitlines() if line.strip()]
    sentences = [s.text for sample in EDGE_ANSWERS + refusals + [s.output for s in _subjects()[:60]]
                 for s in text.split_sentences(sample)]  # fmt: skip
    rng = random.Random(17)
    strings = sorted({string for clauses in refusal.REFUSAL_CLAUSES for clause in clauses for string in clause})
    words = [*strings, *sorted(refusal.TRIGGER_WORDS), "I", "I'm", "me", "you", "help", "that", "the", "x", "ſorry"]
    marks = [" ", " ", " ", "", ", ", ". ", "'", "-", "\n"]
    for _ in range(20_000):
        sentence = "".join(rng.choice(words) + rng.choice(marks) for _ in range(rng.randint(1, 8)))
        sentences.append(sentence.upper() if rng.random() < 0.1 else sentence.capitalize())
    for sentence in sentences[:400] * 20:  # the real sentences with a word dropped, swapped or added
        parts = sentence.split(" ")
        at = rng.randrange(len(parts))
        parts[at : at + rng.randint(0, 1)] = [rng.choice(words)] * rng.randint(0, 1)
        sentences.append(" ".join(parts))
    matched = 0
    for sentence in sentences:
        expected = [m.span() for m in REFERENCE_REFUSAL_RE.finditer(sentence)]
        pattern = refusal.refusal_pattern_for(sentence)
        assert ([] if pattern is None else [m.span() for m in pattern.finditer(sentence)]) == expected, sentence
        matched += bool(expected)
    assert matched > 1_000


def test_quantity_match_memo_matches_a_fresh_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """A figure's Quantities looked up in the match memo (the same text parsed elsewhere first) are those a parse
    with an empty memo gives, whatever stands around it: currencies, ranges, modifiers, units, words glued on."""
    rng = random.Random(12)
    atoms = [
        "$", "US$", "usd ", "€", "EUR ", "£", "¥", "CHF ", "1", "12", "1,299.50", "1.299,50", "3.5", "05", "2024",
        " ", "-", "–", " to ", " and ", " bis ", "%", "°C", " days", " business days", " working hours", " hours",
        " km", " GB", "/s", " month", " years", " characters", " ports", "x", "v", ".", ",", "_", "d", "r",
        "March 3, 2025", "2025-03-03", "9am", "17:00", " ten", " half", " an hour", "\u00a0", " watts", " metres",
    ]  # fmt: skip
    texts = ["".join(rng.choice(atoms) for _ in range(rng.randint(1, 14))) for _ in range(4_000)]

    def parse(t: str) -> tuple | str:
        try:
            return quantities.extract_quantities.__wrapped__(t)
        except ValueError as error:  # "1.299,501,299.50": parse_number gives up, memo or not
            return str(error)

    warm = [parse(t) for t in texts]  # the memo fills as it goes
    for t, memoised in zip(texts, warm, strict=True):
        monkeypatch.setattr(quantities, "_MATCHES", quantities._MatchMemo())
        assert parse(t) == memoised, t


MARKER_PIECES = (
    "word", "Word", "e.g.", "etc.", "Dr.", "J.", "3.5", "12", " ", " ", " ", "  ", ".", ". ", "! ", "? ", "\n", "- ",
    "1. ", "[1]", "[2]", "[12]", "[a]", "[1] ", " [1]", " [1].", " [1][2].", "[1].", "(", ")", '"', "'", "…", "and",
    "The", "\t", "]", "[", "²", "[²]", " [١].", "é", "#", "a.m.", " [3]. next", " [3]. Next", " [4].\n", "*", ":",
)  # fmt: skip


def test_marker_free_sentences_match_a_split_of_the_stripped_text() -> None:
    """Wherever marker_free_sentences answers, it is split_sentences(strip_markers(text)) to the offset."""
    rng = random.Random(5)
    texts = ["".join(rng.choice(MARKER_PIECES) for _ in range(rng.randint(1, 30))) for _ in range(30_000)]
    texts += [
        "Refunds take 30 days [1][2]. The plan renews every 6 years [3].",
        "Refunds take 30 days. [1]. next [2].",
        "Fees apply [1].\nSee e.g. [2]. the docs.",
        "No markers at all. Just text.",
    ]
    derived = 0
    for value in texts:
        got = support.marker_free_sentences(value, text.split_sentences(value))
        if got is None:
            continue
        derived += "[" in value
        want = text.split_sentences(support.strip_markers(value))
        assert [(s.text, s.start) for s in got] == [(s.text, s.start) for s in want], value
    assert derived > 1000  # the fuzz reaches the derivation with markers


def test_is_claim_agrees_with_claim_terms() -> None:
    """is_claim (stems looked up until enough count) decides exactly as claim_terms does: random sentences over
    stopwords, hedges, unit and number words, digits, pleasantries, apostrophes and non-ASCII text."""
    rng = random.Random(17)
    pieces = (
        "the a and of plan plans renew about roughly most hours hour days kg percent usd five twenty hundred 5 12 "
        "3.5 1,000 $ % thanks hello let me know help I'm can't l'essai café x zz is not . , ? : ! - ( )"
    ).split()
    for _ in range(4_000):
        sentence = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for words in (0, 1, 2, 3, 4):
            assert support.is_claim(sentence, words) == (support.claim_terms(sentence, words) is not None), sentence
