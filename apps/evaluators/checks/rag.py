"""RAG checks: citations (markers point at retrieved documents) and grounding (claims appear in them)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from apps.evaluators.checks.base import Check, clean_bool, clean_int, clean_share, clip, finish
from apps.evaluators.checks.refusal import detect_refusal
from apps.evaluators.checks.text import (
    content_terms,
    mask_code,
    normalise_apostrophes,
    split_sentences,
    word_count,
)
from apps.evaluators.subject import CheckResult, Document, Subject

# --- citation markers -----------------------------------------------------------------------

# [1], [1, 3], [doc-12], [source: kb-12], [^1]; not a markdown link "[text](url)".
BRACKET_RE = re.compile(r"\[([^\[\]\n]{1,80})\](?!\()")
# 【1】, 【1†source】, 【doc-3】
LENTICULAR_RE = re.compile(r"【([^】\n]{1,60})】")
# (source: kb-12), (sources: kb-1, kb-2), (ref: doc 3)
PAREN_RE = re.compile(
    r"\((?:sources?|refs?|references?|cited?|citations?|docs?|documents?)\s*:\s*([^()\n]{1,120})\)", re.I
)
# A trailing "Sources: kb-1, kb-2" line.
SOURCES_LINE_RE = re.compile(
    r"^[ \t*_]*(?:sources?|references?|citations?)[*_]*\s*:[*_]*\s*([^\n\[【]{1,200})$", re.I | re.M
)
TOKEN_SPLIT_RE = re.compile(r"\s*(?:[,;]|\band\b|&)\s*")
TOKEN_PREFIX_RE = re.compile(
    r"^(?:sources?|refs?|references?|documents?|docs?|citations?|see|cf\.?)(?:\s*[:#]\s*|\s+)", re.I
)
RANGE_RE = re.compile(r"(\d{1,3})\s*[-–]\s*(\d{1,3})\Z")
ID_LIKE_RE = re.compile(r"[A-Za-z][A-Za-z_]*[-_:#./]?\d[\w.-]*\Z")
PREFIXED_NUMBER_RE = re.compile(r"([A-Za-z_]+)[-_:#./]?0*(\d+)\Z")
ID_SEPARATORS_RE = re.compile(r"[-_:#./\s]")
# Prefixes that make "doc-3" mean "the third retrieved document" when no document has that id.
POSITIONAL_PREFIXES = frozenset(
    {"doc", "docs", "document", "source", "src", "ref", "s", "d", "chunk", "passage", "context", "ctx", "c", "p"}
)
MAX_CITATION_NUMBER = 500  # "[2024]" is a year, not a citation


@dataclass(slots=True)
class Citation:
    """One citation token found in the answer."""

    marker: str  # as shown in the explanation: "[3]", "[doc-12]"
    token: str  # "3", "doc-12"


def _tokens(inner: str, doc_ids: set[str]) -> list[str] | None:
    """Split a marker's inside into citation tokens; None when it does not look like a citation at all."""
    if inner.isdigit():  # the common "[3]"
        return [str(int(inner))] if int(inner) <= MAX_CITATION_NUMBER else None
    inner = TOKEN_PREFIX_RE.sub("", inner.strip())
    tokens: list[str] = []
    for raw in TOKEN_SPLIT_RE.split(inner):
        token = TOKEN_PREFIX_RE.sub("", raw.strip()).lstrip("^#").split("†")[0].strip()
        if not token:
            continue
        span = RANGE_RE.match(token)
        if token.isdigit() and int(token) <= MAX_CITATION_NUMBER:
            tokens.append(str(int(token)))
        elif span and 0 < int(span.group(2)) - int(span.group(1)) <= 20:
            tokens.extend(str(n) for n in range(int(span.group(1)), int(span.group(2)) + 1))
        elif token.lower() in doc_ids or ID_LIKE_RE.match(token):
            tokens.append(token)
        else:
            return None
    return tokens or None


def _may_have_sources_line(text: str) -> bool:
    """Whether SOURCES_LINE_RE can match: it needs one of its keywords (re's anchored scan costs ~5 µs per answer)."""
    if not text.isascii():
        return True  # re.I folds some non-ASCII letters ("ſ") onto ASCII ones: let the pattern decide
    lowered = text.lower()
    return "source" in lowered or "reference" in lowered or "citation" in lowered


def find_citations(text: str, documents: Sequence[Document]) -> list[Citation]:
    """Return the distinct citation tokens in text, in order of first appearance (code is ignored)."""
    text = mask_code(text)
    doc_ids = {d.id.lower() for d in documents if d.id}
    found: list[tuple[int, Citation]] = []
    for pattern, template in (
        (BRACKET_RE, "[{}]"),
        (LENTICULAR_RE, "【{}】"),
        (PAREN_RE, "(source: {})"),
        (SOURCES_LINE_RE, "Sources: {}"),
    ):
        if pattern is BRACKET_RE and "[" not in text or pattern is LENTICULAR_RE and "【" not in text:
            continue
        if pattern is SOURCES_LINE_RE and not _may_have_sources_line(text):
            continue
        for match in pattern.finditer(text):
            tokens = _tokens(match.group(1), doc_ids)
            # A "Sources:" line of free text ("Sources: the employee handbook") is not a marker list.
            if tokens:
                found.extend((match.start(), Citation(template.format(t), t)) for t in tokens)
    seen: set[str] = set()
    citations: list[Citation] = []
    for _, citation in sorted(found, key=lambda item: item[0]):
        key = citation.token.lower()
        if key not in seen:
            seen.add(key)
            citations.append(citation)
    return citations


def resolves(token: str, documents: Sequence[Document]) -> bool:
    """Return whether a citation token names a retrieved document: by 1-based position or by id."""
    count = len(documents)
    ids = {ID_SEPARATORS_RE.sub("", d.id.lower()) for d in documents if d.id}
    bare = ID_SEPARATORS_RE.sub("", token.lower())
    if token.isdigit():
        return 1 <= int(token) <= count or token in ids
    if bare in ids:
        return True
    prefixed = PREFIXED_NUMBER_RE.match(token)
    if prefixed:
        prefix, number = prefixed.group(1).lower(), prefixed.group(2)
        if number in ids:
            return True  # "[doc-12]" for a document whose id is "12"
        return prefix in POSITIONAL_PREFIXES and 1 <= int(number) <= count
    return False


class CitationsCheck(Check):
    """Every citation marker must point at a retrieved document; a substantial answer must cite something."""

    kind = "citations"
    defaults = {
        "min_words_to_require": 12,  # shorter answers need no citation
        "require_citations": True,  # fail a substantial answer that cites nothing
    }

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check option types."""
        clean_int(config, "min_words_to_require")
        clean_bool(config, "require_citations")
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when documents were retrieved and there is an answer."""
        return bool(subject.documents) and bool((subject.output or "").strip())

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return the share of markers that resolve; "uncited" when a substantial answer cites nothing."""
        config = self.with_defaults(config)
        documents = subject.documents
        citations = find_citations(normalise_apostrophes(subject.output), documents)
        if not citations:
            words = word_count(subject.output)
            if words < config["min_words_to_require"]:
                return finish(1.0, True, "ok", f"No citations, but the answer is short ({words} words).")
            if detect_refusal(subject.output).kind == "refusal":
                return finish(1.0, True, "ok", "No citations, but the answer is a refusal.")
            if not config["require_citations"]:
                return finish(1.0, True, "ok", "No citations (not required).")
            return finish(
                0.0, False, "uncited",
                f"The answer ({words} words) cites none of the {len(documents)} retrieved documents; "
                "ask the model to cite sources like [1] or [doc-id].",
            )  # fmt: skip
        dangling = [c for c in citations if not resolves(c.token, documents)]
        share = 1 - len(dangling) / len(citations)
        if not dangling:
            return finish(
                1.0,
                True,
                "ok",
                f"All {len(citations)} cited sources exist among the {len(documents)} retrieved documents.",
            )
        ids = [d.id for d in documents if d.id][:5]
        known = f"ids: {clip(', '.join(ids), 120)}" if ids else "none has an id"
        markers = ", ".join(c.marker for c in dangling[:6]) + (
            f" and {len(dangling) - 6} more" if len(dangling) > 6 else ""
        )
        return finish(
            share, False, "dangling_citation",
            f"{len(dangling)} of {len(citations)} citations point at no retrieved document: {markers}. "
            f"{len(documents)} documents were retrieved (numbers must be 1–{len(documents)}; {known}).",
        )  # fmt: skip


# --- grounding ------------------------------------------------------------------------------

# Citation markers, URLs and markdown decoration carry no claim; each runs only when its trigger is present.
STRIPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("[", re.compile(r"\[[^\[\]\n]{1,40}\](?!\()|\]\([^)\s]*\)")),
    ("【", re.compile(r"【[^】\n]{1,60}】")),
    (":", re.compile(r"\((?:[Ss]ources?|[Rr]efs?)\s*:[^()\n]{1,120}\)")),
    ("://", re.compile(r"https?://\S+")),
    # "\*\*{0,2}" is "\*{1,3}" opening on a literal, which CPython's re can skip ahead to (ten times faster).
    ("*", re.compile(r"\*\*{0,2}")),
    ("__", re.compile(r"___?")),
)
# STRIPS' first pattern without its "](url)" branch: it opens on a literal, which re scans for far faster.
CITATION_MARKER_RE = re.compile(r"\[[^\[\]\n]{1,40}\](?!\()")
SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([.,;:!?])")
# Openers of pleasantries, hedges and meta talk that are not claims about the world (matched at the start only).
NON_CLAIM_START_RE = re.compile(
    r"(?:hi|hello|hey|thanks|thank you|sure|certainly|of course|great question|good question|absolutely|"
    r"(?:i'm |i am |i'd be )?(?:happy|glad) to help|i hope|hope this|you're welcome|no problem|good luck|"
    r"in summary|to summari[sz]e|here(?:'s| is| are) (?:a |an |the |some |what|how)|"
    r"i (?:don't|do not|can't|cannot|am not|'m not|couldn't|could not) (?:know|have|find|see|access|sure|able|tell)|"
    # Refusals and apologies claim nothing about the world; the refusal evaluator scores them.
    r"(?:i'm |i am )?sorry|unfortunately,? i\b|as an ai\b|i(?:'m| am) (?:unable|not able)|"
    r"i (?:can't|cannot|won't|will not) (?:help|assist|provide|answer|do that|share))\b"
)
# The same kind of talk anywhere in a sentence; plain substrings are far cheaper than an unanchored regex.
NON_CLAIM_PHRASES = (
    "let me know",
    "feel free to",
    "hope this helps",
    "hope that helps",
    "happy to help",
    "don't hesitate",
    "anything else",
)


def _has_non_claim_phrase(lowered: str) -> bool:
    """Whether a lowercased sentence holds one of NON_CLAIM_PHRASES (a plain loop: cheaper than any() on a genexpr)."""
    for phrase in NON_CLAIM_PHRASES:
        if phrase in lowered:
            return True
    return False


@dataclass(slots=True)
class Claim:
    """A factual sentence of the answer and whether the documents support it."""

    text: str
    supported: bool
    overlap: float
    missing_numbers: list[str]  # in no document at all
    unmatched_numbers: list[str] = field(default_factory=list)  # not in the document that holds its words


@lru_cache(maxsize=4096)
def document_terms(content: str) -> tuple[frozenset[str], frozenset[str]]:
    """Return a document's (content words, numbers); cached because the same chunks recur across traces."""
    words, numbers = content_terms(normalise_apostrophes(content))
    return frozenset(words), frozenset(numbers)


def claims(answer: str, documents: Sequence[Document], *, threshold: float, min_content_words: int) -> list[Claim]:
    """Split the answer into factual sentences and judge each against the documents.

    1. Drop code, citation markers, URLs and decoration; split into sentences.
    2. Skip questions, pleasantries, hedges, intros ending in ':' and sentences with too few content words.
    3. A claim is supported by one document (or two neighbouring ones: a passage split across chunks) that holds
       at least `threshold` of its content words and every number in it.
    """
    terms = [document_terms(d.content) for d in documents if d.content]
    all_numbers = frozenset().union(*(numbers for _, numbers in terms)) if terms else frozenset()
    windows: list[tuple[frozenset[str], frozenset[str]]] | None = None
    cleaned = mask_code(normalise_apostrophes(answer))
    for trigger, pattern in STRIPS:
        if trigger in cleaned:
            if pattern is STRIPS[0][1] and "](" not in cleaned:
                pattern = CITATION_MARKER_RE  # without "](" the link branch cannot match
            cleaned = pattern.sub("", cleaned)
    results: list[Claim] = []
    for sentence in split_sentences(cleaned):
        text = sentence.text
        if text.endswith(("?", ":")):
            continue
        lowered = text.lower()
        if NON_CLAIM_START_RE.match(lowered) or _has_non_claim_phrase(lowered):
            continue
        words, numbers = content_terms(text)
        if len(words) < min_content_words and not (numbers and words):
            continue
        missing = sorted(numbers - all_numbers)
        best, supported, unmatched = _support(words, numbers, terms, threshold)
        # Neighbouring chunks only help when no single document holds enough of the words.
        if best < threshold and not missing and len(terms) > 1:
            if windows is None:
                windows = [
                    (terms[i][0] | terms[i + 1][0], terms[i][1] | terms[i + 1][1]) for i in range(len(terms) - 1)
                ]
            pair_best, supported, pair_unmatched = _support(words, numbers, windows, threshold)
            if pair_best > best:
                best, unmatched = pair_best, pair_unmatched
        results.append(Claim(text, supported, best, missing, unmatched))
    return results


def _support(
    words: set[str], numbers: set[str], sources: Sequence[tuple[frozenset[str], frozenset[str]]], threshold: float
) -> tuple[float, bool, list[str]]:
    """Return (best word overlap, whether one source holds threshold of the words and all the numbers,
    the numbers missing from the best-overlapping source)."""
    best = -1.0
    unmatched: list[str] = []
    for source_words, source_numbers in sources:
        overlap = len(words & source_words) / len(words) if words else 1.0
        if overlap >= threshold and numbers <= source_numbers:
            return overlap, True, []
        if overlap > best:
            best, unmatched = overlap, sorted(numbers - source_numbers)
    return max(best, 0.0), False, unmatched


class GroundingCheck(Check):
    """The share of the answer's factual sentences supported by the retrieved documents."""

    kind = "grounding"
    defaults = {
        "threshold": 0.6,  # share of a sentence's content words that must appear in one document
        "min_share": 0.8,  # share of supported claims needed to pass
        "min_content_words": 3,  # sentences with fewer content words (and no number) are not claims
    }

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the shares lie in (0, 1] / [0, 1]."""
        clean_share(config, "threshold", allow_zero=False)
        clean_share(config, "min_share")
        clean_int(config, "min_content_words", minimum=1)
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when documents with text were retrieved and there is an answer."""
        return any(d.content for d in subject.documents) and bool((subject.output or "").strip())

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return supported/claims; "no_claims" when the answer makes none; quote the unsupported sentences."""
        config = self.with_defaults(config)
        found = claims(
            subject.output, subject.documents,
            threshold=config["threshold"], min_content_words=config["min_content_words"],
        )  # fmt: skip
        if not found:
            return finish(1.0, True, "no_claims", "The answer makes no factual claims to check.")
        unsupported = [c for c in found if not c.supported]
        share = 1 - len(unsupported) / len(found)
        passed = share >= config["min_share"]
        summary = f"{len(found) - len(unsupported)} of {len(found)} claims are supported by the retrieved documents"
        if not unsupported:
            return finish(1.0, True, "grounded", summary + ".")
        quoted = "; ".join(_describe(c) for c in unsupported[:3])
        more = f"; and {len(unsupported) - 3} more" if len(unsupported) > 3 else ""
        return finish(share, passed, "grounded" if passed else "ungrounded", f"{summary}. Unsupported: {quoted}{more}.")


def _describe(claim: Claim) -> str:
    """Quote an unsupported claim with the reason."""
    if claim.missing_numbers:
        why = f"{', '.join(claim.missing_numbers[:3])} in no document"
    elif claim.unmatched_numbers and claim.overlap >= 0.5:
        why = f"{', '.join(claim.unmatched_numbers[:3])} not in the document that matches its words"
    else:
        why = f"{claim.overlap:.0%} of its terms found"
    text = clip(SPACE_BEFORE_PUNCT_RE.sub(r"\1", claim.text), 90)
    return f"{text!r} ({why})"
