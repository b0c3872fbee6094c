"""RAG checks: citations (markers point at retrieved documents that support the cited sentence) and grounding
(claims, their numbers and their polarity appear in the documents)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.evaluators.checks.analysis import AnswerAnalysis, answer_analysis
from apps.evaluators.checks.base import Check, clean_bool, clean_int, clean_share, clip, finish
from apps.evaluators.checks.support import (
    Claim,
    Source,
    claims,
    describe,
    is_claim,
    judge,
    neighbours,
    sources_for,
    strip_markers,
    window,
)
from apps.evaluators.checks.text import WORD_RE, Sentence, mask_code, split_sentences
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
# The same characters for ASCII text (\s there is these whitespace characters), dropped by str.translate.
_ASCII_ID_SEPARATORS = str.maketrans("", "", "-_:#./" + "".join(chr(c) for c in range(128) if chr(c).isspace()))
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


def citation_spans(text: str, documents: Sequence[Document]) -> list[tuple[int, bool, Citation]]:
    """Return every citation token in (code-masked) text with its offset and whether it sits on a "Sources:" line,
    in order of appearance."""
    doc_ids = {d.id.lower() for d in documents if d.id}
    found: list[tuple[int, bool, Citation]] = []
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
                line = pattern is SOURCES_LINE_RE
                found.extend((match.start(), line, Citation(template.format(t), t)) for t in tokens)
    found.sort(key=lambda item: item[0])
    return found


def find_citations(text: str, documents: Sequence[Document]) -> list[Citation]:
    """Return the distinct citation tokens in text, in order of first appearance (code is ignored)."""
    return _distinct([c for _, _, c in citation_spans(mask_code(text), documents)])


def _distinct(found: list[Citation]) -> list[Citation]:
    """The citations with repeats of a token dropped (case-insensitive), in order."""
    seen: set[str] = set()
    citations: list[Citation] = []
    for citation in found:
        key = citation.token.lower()
        if key not in seen:
            seen.add(key)
            citations.append(citation)
    return citations


def resolves(token: str, documents: Sequence[Document]) -> bool:
    """Return whether a citation token names a retrieved document: by 1-based position or by id."""
    return resolve(token, documents) is not None


def resolve(token: str, documents: Sequence[Document], ids: dict[str, int] | None = None) -> int | None:
    """Return the 1-based position of the document a citation token names (a position first for a plain number,
    then an id); ids is document_ids(documents), passed when resolving many tokens."""
    count = len(documents)
    if ids is None:
        ids = document_ids(documents)
    bare = _bare_id(token.lower())
    if token.isdigit():
        return int(token) if 1 <= int(token) <= count else ids.get(token)
    if bare in ids:
        return ids[bare]
    prefixed = PREFIXED_NUMBER_RE.match(token)
    if prefixed:
        prefix, number = prefixed.group(1).lower(), prefixed.group(2)
        if number in ids:
            return ids[number]  # "[doc-12]" for a document whose id is "12"
        if prefix in POSITIONAL_PREFIXES and 1 <= int(number) <= count:
            return int(number)
    return None


def document_ids(documents: Sequence[Document]) -> dict[str, int]:
    """Map each document's id (lowercased, separators dropped) to its 1-based position."""
    return {_bare_id(d.id.lower()): n for n, d in enumerate(documents, 1) if d.id}


def _bare_id(value: str) -> str:
    """An id without separators ("kb-12" → "kb12"): a translate for ASCII, the pattern otherwise."""
    return value.translate(_ASCII_ID_SEPARATORS) if value.isascii() else ID_SEPARATORS_RE.sub("", value)


# Logic versions: bump when what a check computes changes, so its scores start a new evaluator version.
# 2: numbers with units and dates, negation, and (citations) the cited document must support the sentence.
GROUNDING_LOGIC_VERSION = "2"
CITATIONS_LOGIC_VERSION = "2"


@dataclass(slots=True)
class CitedClaims:
    """The answer's sentences that carry markers, judged against the documents those markers name."""

    checked: list[Claim]


def cited_claims(
    text: str, spans: list[tuple[int, bool, Citation]], documents: Sequence[Document], *, threshold: float,
    min_content_words: int, ids: dict[str, int] | None = None, sentences: list[Sentence] | None = None,
) -> CitedClaims:  # fmt: skip
    """Judge each cited sentence of (code-masked) text against its cited documents. A marker standing alone after
    a sentence belongs to that sentence; a "Sources:" line cites every sentence without markers of its own (ids:
    document_ids(documents), when the caller has it; sentences: split_sentences(text), likewise)."""
    if ids is None:
        ids = document_ids(documents)
    # (claim text, cited positions): the sentences is_claim takes for claims
    pending: list[tuple[str, list[int]]] = []
    uncited: list[str] = []
    everywhere: list[int] = []
    if sentences is None:
        sentences = split_sentences(text)
    at = 0
    for index, sentence in enumerate(sentences):
        end = sentences[index + 1].start if index + 1 < len(sentences) else len(text)
        positions: list[int] = []
        marked = False
        while at < len(spans) and spans[at][0] < end:
            _, on_sources_line, citation = spans[at]
            at += 1
            position = resolve(citation.token, documents, ids)
            if on_sources_line:
                everywhere.extend([position] if position else [])
                continue
            marked = True
            if position is not None:
                positions.append(position)
        if not marked:
            uncited.append(sentence.text)  # judged only if a "Sources:" line cites it
            continue
        bare = strip_markers(sentence.text)
        if not WORD_RE.search(bare):
            if pending:  # "… 14 hours. [1]"
                pending[-1][1].extend(positions)
            continue
        if is_claim(bare, min_content_words):
            pending.append((bare, positions))
    if everywhere:
        for sentence_text in uncited:
            if SOURCES_LINE_RE.match(sentence_text):
                continue
            bare = strip_markers(sentence_text)
            if is_claim(bare, min_content_words):
                pending.append((bare, list(everywhere)))
    checked = []
    for claim, positions in pending:
        cited = sources_for([(p, documents[p - 1]) for p in dict.fromkeys(positions)])
        if not cited:
            continue  # every marker dangles (reported as such), or the cited documents hold no text
        verdict = judge(claim, cited, lambda cited=cited: _together(cited), threshold, combine=True)
        verdict.cited = [s.label for s in cited]
        checked.append(verdict)
    return CitedClaims(checked)


def _together(cited: list) -> list:
    """The cited sources read together: the pair as neighbours, or three and more merged into one."""
    return neighbours(cited) if len(cited) == 2 else [_merged(cited)] if len(cited) > 2 else []


def _merged(sources: list) -> Source:
    """All cited sources read as one."""
    return window("+".join(s.label for s in sources), sources)


class CitationsCheck(Check):
    """Every citation marker must point at a retrieved document that supports the cited sentence (its words,
    numbers and polarity); an answer with factual claims must cite something."""

    kind = "citations"
    value_unit = "share of cited sentences supported"
    value_labels = ((1.0, "every citation holds (pass)"),)
    mean_informative = True
    logic_version = CITATIONS_LOGIC_VERSION
    defaults = {
        "min_words_to_require": 5,  # shorter answers need no citation
        "require_citations": True,  # fail an answer with factual claims that cites nothing
        "threshold": 0.5,  # share of a cited sentence's content words the cited documents must hold
    }

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check option types."""
        clean_int(config, "min_words_to_require")
        clean_bool(config, "require_citations")
        clean_share(config, "threshold", allow_zero=False)
        return config

    def applies(self, subject: Subject, config: Mapping[str, Any]) -> bool:
        """Apply when documents were retrieved and there is an answer."""
        return bool(subject.documents) and bool((subject.output or "").strip())

    def run(self, subject: Subject, config: Mapping[str, Any]) -> CheckResult:
        """Return the share of markers and cited sentences that hold up; "uncited" when an answer with factual
        claims cites nothing, "dangling_citation" for a marker with no document, "unsupported_citation" for a
        cited document that does not say what the sentence says."""
        config = self.with_defaults(config)
        documents = subject.documents
        analysis = answer_analysis(subject)
        text = analysis.masked()
        spans = citation_spans(text, documents)
        if not spans:
            return self._uncited(analysis, documents, config)
        citations = _distinct([c for _, _, c in spans])
        ids = document_ids(documents)
        dangling = [c for c in citations if resolve(c.token, documents, ids) is None]
        # Two content words make a checkable claim once a marker says where it comes from ("X is waterproof [1]").
        judged = cited_claims(
            text, spans, documents, threshold=config["threshold"], min_content_words=2, ids=ids,
            sentences=analysis.sentences(),
        )  # fmt: skip
        unsupported = [c for c in judged.checked if not c.supported]
        total = len(citations) + len(judged.checked)
        share = 1 - (len(dangling) + len(unsupported)) / total
        if dangling:
            ids = [d.id for d in documents if d.id][:5]
            known = f"ids: {clip(', '.join(ids), 120)}" if ids else "none has an id"
            markers = ", ".join(c.marker for c in dangling[:6]) + (
                f" and {len(dangling) - 6} more" if len(dangling) > 6 else ""
            )
            extra = f" Also {len(unsupported)} cited sentences are unsupported." if unsupported else ""
            return finish(
                share, False, "dangling_citation",
                f"{len(dangling)} of {len(citations)} citations point at no retrieved document: {markers}. "
                f"{len(documents)} documents were retrieved (numbers must be 1–{len(documents)}; {known}).{extra}",
            )  # fmt: skip
        if unsupported:
            quoted = "; ".join(f"{describe(c)} cites {'+'.join(c.cited)}" for c in unsupported[:3])
            more = f"; and {len(unsupported) - 3} more" if len(unsupported) > 3 else ""
            return finish(
                share, False, "unsupported_citation",
                f"{len(unsupported)} of {len(judged.checked)} cited sentences are not supported by the documents "
                f"they cite: {quoted}{more}.",
            )  # fmt: skip
        return finish(
            1.0, True, "ok",
            f"All {len(citations)} cited sources exist among the {len(documents)} retrieved documents, and the "
            f"{len(judged.checked)} cited sentences are supported by them.",
        )  # fmt: skip

    def _uncited(
        self, analysis: AnswerAnalysis, documents: Sequence[Document], config: Mapping[str, Any]
    ) -> CheckResult:
        """Judge an answer without markers: fine when short, a refusal, claim-free, or citations are optional (the
        refusal verdict and the claim sentences are the refusal and grounding checks' own, from the analysis)."""
        words = analysis.word_count()
        if words < config["min_words_to_require"]:
            return finish(1.0, True, "ok", f"No citations, but the answer is short ({words} words).")
        if not config["require_citations"]:
            return finish(1.0, True, "ok", "No citations (not required).")
        if analysis.refusal().kind == "refusal":
            return finish(1.0, True, "ok", "No citations, but the answer is a refusal.")
        factual = sum(analysis.claim_flags(3))
        if not factual:
            return finish(1.0, True, "ok", "No citations, but the answer makes no factual claims.")
        return finish(
            0.0, False, "uncited",
            f"The answer makes {factual} factual claims ({words} words) but cites none of the {len(documents)} "
            "retrieved documents; ask the model to cite sources like [1] or [doc-id].",
        )  # fmt: skip


class GroundingCheck(Check):
    """The share of the answer's factual sentences supported by the retrieved documents: their words, every
    number with its unit or date, and their polarity."""

    kind = "grounding"
    value_unit = "share of claims supported"
    value_labels = ((1.0, "every claim supported"), (0.0, "no claim supported"))
    mean_informative = True
    logic_version = GROUNDING_LOGIC_VERSION
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
        """Return supported/claims; "no_claims" when the answer makes none; quote the unsupported sentences
        with what is wrong ("answer says 10 hours; kb-1 says 14 hours")."""
        config = self.with_defaults(config)
        analysis = answer_analysis(subject)  # its claim sentences and terms, shared with citations' uncited path
        found = claims(
            subject.output, subject.documents,
            threshold=config["threshold"], min_content_words=config["min_content_words"],
            sentences=analysis.claim_sentences(), flags=analysis.claim_flags(config["min_content_words"]),
        )  # fmt: skip
        if not found:
            return finish(1.0, True, "no_claims", "The answer makes no factual claims to check.")
        unsupported = [c for c in found if not c.supported]
        share = 1 - len(unsupported) / len(found)
        passed = share >= config["min_share"]
        summary = f"{len(found) - len(unsupported)} of {len(found)} claims are supported by the retrieved documents"
        if not unsupported:
            return finish(1.0, True, "grounded", summary + ".")
        quoted = "; ".join(describe(c) for c in unsupported[:3])
        more = f"; and {len(unsupported) - 3} more" if len(unsupported) > 3 else ""
        return finish(share, passed, "grounded" if passed else "ungrounded", f"{summary}. Unsupported: {quoted}{more}.")
