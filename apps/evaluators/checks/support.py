"""Whether retrieved documents support an answer's sentences: words, numbers with units and dates, and polarity.

Shared by grounding (every claim against every document) and citations (each cited claim against the
documents its markers name).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import methodcaller

from apps.evaluators.checks.base import clip
from apps.evaluators.checks.negation import CUES, is_negated, may_hold_negation, negated_span
from apps.evaluators.checks.quantities import (
    CURRENCIES,
    MONTHS,
    UNITS,
    Quantity,
    counterpart,
    extract_quantities,
    quantity_found,
)
from apps.evaluators.checks.text import (
    ASCII_WORD_BYTES,
    CONTENT_STEMS,
    NUMBER_RE,
    NUMBER_WORD_BYTES_SET,
    NUMBER_WORDS,
    WORD_RE,
    Sentence,
    ascii_numbers,
    ascii_states_number,
    content_terms,
    mask_code,
    normalise_apostrophes,
    normalise_number,
    punctuation_split,
    split_sentences,
    stem,
)
from apps.evaluators.subject import Document

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
# Spelt "\s\s*" rather than "\s+": opening on a character set lets re skip ahead to the whitespace.
SPACE_BEFORE_PUNCT_RE = re.compile(r"\s\s*([.,;:!?])")
# ASCII whitespace (what \s matches) → " ", the punctuation → ".", the rest → "a": without " ." no match.
_SPACE_PUNCT_BYTES = (
    bytes(32 if chr(c).isspace() else 46 if chr(c) in ".,;:!?" else 97 for c in range(128)) + b"a" * 128
)
# The replacement as a C callable: a "\1" template sends every sub() through re's Python-level template code.
_PUNCT_OF = methodcaller("group", 1)
# Openers of pleasantries, hedges and meta talk that are not claims about the world (matched at the start only).
NON_CLAIM_START_RE = re.compile(
    r"(?:hi|hello|hey|thanks|thank you|sure|certainly|of course|great question|good question|absolutely|"
    r"(?:i'm |i am |i'd be )?(?:happy|glad) to help|i hope|hope this|you're welcome|no problem|good luck|"
    r"in summary|to summari[sz]e|tell me|let me|i'll|i will|here(?:'s| is| are) (?:a |an |the |some |what|how)|"
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
# Each of NON_CLAIM_PHRASES holds one of these words (checked at import; _has_non_claim_phrase tests them inline).
NON_CLAIM_HINTS = ("help", "know", "free", "hesitate", "else")
if not all(any(hint in phrase for hint in NON_CLAIM_HINTS) for phrase in NON_CLAIM_PHRASES):
    raise ValueError("every NON_CLAIM_PHRASES entry must hold one of NON_CLAIM_HINTS")
# An answer sentence this long found word for word as a sentence of a source is supported without analysis.
MIN_QUOTED = 24
# A source sentence must share this much of a claim's words before its polarity can contradict the claim.
POLARITY_OVERLAP = 0.5


def _tidy(text: str) -> str:
    """Text without the spaces a dropped marker left before punctuation ("hours ." → "hours."); the search runs
    first because a substitution costs a Python call even when nothing matches; for ASCII a byte table answers
    whether it can match cheaper than the search."""
    if text.isascii():  # whitespace before the punctuation is exactly what the pattern needs to match
        if b" ." not in text.encode("ascii").translate(_SPACE_PUNCT_BYTES):
            return text
        return SPACE_BEFORE_PUNCT_RE.sub(_PUNCT_OF, text)
    return SPACE_BEFORE_PUNCT_RE.sub(_PUNCT_OF, text) if SPACE_BEFORE_PUNCT_RE.search(text) else text


def _has_non_claim_phrase(lowered: str) -> bool:
    """Whether a lowercased sentence holds one of NON_CLAIM_PHRASES (a plain loop: cheaper than any() on a genexpr)."""
    if not ("help" in lowered or "know" in lowered or "free" in lowered or "hesitate" in lowered or "else" in lowered):
        return False  # every phrase holds one of these (NON_CLAIM_HINTS)
    for phrase in NON_CLAIM_PHRASES:
        if phrase in lowered:
            return True
    return False


@dataclass(slots=True)
class Claim:
    """A factual sentence of the answer, whether the documents support it, and why not."""

    text: str
    supported: bool
    overlap: float
    reason: str = ""  # "answer says 10 hours; kb-1 says 14 hours", "kb-3 says the opposite: …"
    cited: list[str] = field(default_factory=list)  # citation tokens of the sentence (citations check)


@lru_cache(maxsize=4096)
def document_terms(content: str) -> tuple[frozenset[str], frozenset[str]]:
    """Return a document's (content words, numbers); cached because the same chunks recur across traces."""
    words, numbers = content_terms(normalise_apostrophes(content))
    return frozenset(_without_elision(words, content)), frozenset(numbers)


# Where a sentence turns from one statement to another ("…can't export old logs; the export runs nightly").
CLAUSE_BREAK_RE = re.compile(r"\s*[;:]\s+|,?\s+(?:but|however|whereas|although|pero|mais|aber|ma|maar|mas)\s+")


@lru_cache(maxsize=4096)
def document_sentences(content: str) -> tuple[tuple[str, frozenset[str], frozenset[str], bool], ...]:
    """Return a document's clauses, then each whole sentence, as (text, content words, the words its negations
    govern, negated); only built when polarity matters. Clauses come first so they win a tie for closest."""
    units: list[tuple[str, frozenset[str], frozenset[str], bool]] = []
    for sentence in split_sentences(normalise_apostrophes(content)):
        clauses = [c for c in CLAUSE_BREAK_RE.split(sentence.text) if c]
        for text in [*clauses, sentence.text] if len(clauses) > 1 else [sentence.text]:
            negated, denied = polarity(text)
            units.append((text, frozenset(content_terms(text)[0]) - CUES, denied, negated))
    return tuple(units)


@lru_cache(maxsize=4096)
def document_may_negate(content: str) -> bool:
    """Whether any sentence of the document may be negated (one token pass, cached)."""
    return may_hold_negation(normalise_apostrophes(content).lower())


@lru_cache(maxsize=4096)
def document_lowered(content: str) -> str:
    """A document's lowercased text, with ASCII apostrophes (as answers are read)."""
    return normalise_apostrophes(content).lower()


# How many claim words a check looks up in one document's text before building its word set instead.
SEARCHED_WORDS = 12


@lru_cache(maxsize=4096)
def document_tokens(content: str) -> bytes | None:
    """A document's word tokens as content_terms reads them, space-separated with a space at each end (b" tok tok
    "); None when a look-up cannot stand in for content_terms' word set (non-ASCII text, or apostrophes: their
    tokens and elisions take the pattern)."""
    if not content.isascii() or "'" in content:
        return None
    return b" " + content.encode("ascii").translate(ASCII_WORD_BYTES) + b" "


@lru_cache(maxsize=4096)
def document_numbers(content: str) -> frozenset[str]:
    """document_terms' numbers of a document, without stemming its words when its tokens are at hand."""
    tokens = document_tokens(content)
    if tokens is None:
        return document_terms(content)[1]
    numbers = ascii_numbers(content.encode("ascii"), _NO_TOKENS)  # the digits; spelt words are looked up below
    # b" twelve ": a whole token; one scan finds them all (a substring test per word cost three times as much, and
    # splitting every token into a set twice).
    for word in _SPELT_NUMBER_RE.findall(tokens):
        numbers.add(_SPELT_NUMBERS[word])
    return frozenset(numbers)


def document_states_number(content: str, number: str) -> bool:
    """Whether document_numbers(content) holds number, without building the set when the document's tokens are at
    hand: a spelt word for it standing as a whole token (b" five ", what _SPELT_NUMBER_RE finds), else a digit run
    holding it (ascii_numbers' reading, run by run). Only a failed claim's reason asks, of every document in turn."""
    tokens = document_tokens(content)
    if tokens is None:
        return number in document_terms(content)[1]
    for needle in _SPELT_NEEDLES.get(number, ()):
        if needle in tokens:
            return True
    return ascii_states_number(content.encode("ascii"), number)


_NO_TOKENS: frozenset[bytes] = frozenset()
# content_terms' spelt number words, and a pattern finding them as whole tokens of document_tokens' text (a space
# before the word, one after it: the look-ahead leaves that space to start the next token's match).
_SPELT_NUMBERS = {word.encode("ascii"): number for word, number in NUMBER_WORDS.items()}
_SPELT_NUMBER_RE = re.compile(rb" (%s)(?= )" % b"|".join(map(re.escape, _SPELT_NUMBERS)))
# number → the spelt words for it as whole tokens of document_tokens' text (b" five "): a token is a run of a-z and
# apostrophes between spaces, so _SPELT_NUMBER_RE finds the word exactly where this needle occurs.
_SPELT_NEEDLES: dict[str, tuple[bytes, ...]] = {}
for _word, _number in _SPELT_NUMBERS.items():
    _SPELT_NEEDLES[_number] = (*_SPELT_NEEDLES.get(_number, ()), b" " + _word + b" ")


def _holds_word(tokens: bytes, word: str) -> bool:
    """Whether document_terms' word set of the document whose tokens these are holds word (a stem). A token's stem
    keeps all of the token but for its last letters, and replaces at most the stem's last letter ("policies" →
    "policy"), so only tokens starting with the stem less its last letter can stem to it."""
    if len(word) < 2 or not word.isascii():
        return word in document_terms_of_tokens(tokens)
    needle = b" " + word[:-1].encode("ascii")
    at = tokens.find(needle)
    while at != -1:
        end = tokens.index(b" ", at + 1)
        if CONTENT_STEMS[tokens[at + 1 : end]] == word:
            return True
        at = tokens.find(needle, end)
    return False


def document_terms_of_tokens(tokens: bytes) -> frozenset[str]:
    """The content words of a document's tokens (what content_terms makes of them)."""
    return frozenset(map(CONTENT_STEMS.__getitem__, tokens.split())) - {""}


def _holds_phrase(text: str, phrase: str) -> bool:
    """Whether phrase occurs in text with no digit, '.', ',' or letter glued to either end."""
    at = text.find(phrase)
    while at != -1:
        end = at + len(phrase)
        if (at == 0 or not (text[at - 1].isalnum() or text[at - 1] in ".,")) and (
            end == len(text) or not (text[end].isalnum() or (text[end] in ".," and text[end + 1 : end + 2].isdigit()))
        ):
            return True
        at = text.find(phrase, at + 1)
    return False


@dataclass(slots=True)
class Source:
    """One retrieved document, or neighbouring chunks read together (a window), as a claim is checked against it.

    A document's words and numbers are read only when a claim needs them (a claim quoted word for word from it
    never does); a window keeps its documents as parts and is never united into one word set: how many of a
    claim's words it holds is counted across its parts.
    """

    label: str
    contents: tuple[str, ...]
    parts: tuple[Source, ...] = ()  # the documents of a window; empty for one document
    searched: int = 0  # claim words looked up in the document's text so far (see held)
    # The last words asked of a single document and what it holds of them: a window asks its parts the same claim's
    # words the sources were just asked, and the answer is reused.
    asked: frozenset[str] | None = None
    holds: frozenset[str] = frozenset()

    @property
    def words(self) -> frozenset[str]:
        """The source's content words (a window's: its parts' together)."""
        if not self.parts:
            return document_terms(self.contents[0])[0]
        return frozenset().union(*(part.words for part in self.parts))

    @property
    def numbers(self) -> frozenset[str]:
        """The source's numbers (a window's: its parts' together)."""
        if not self.parts:
            return document_numbers(self.contents[0])
        return frozenset().union(*(part.numbers for part in self.parts))

    def states_number(self, number: str) -> bool:
        """Whether number is among the source's numbers (`number in self.numbers`, no set of them built)."""
        if not self.parts:
            return document_states_number(self.contents[0], number)
        return any(part.states_number(number) for part in self.parts)

    def held(self, words: frozenset[str]) -> int:
        """How many of words the source holds: for a window, those any of its parts holds (no word set united)."""
        if not self.parts:
            return len(self.held_words(words))
        if len(self.parts) == 2:
            return len(self.parts[0].held_words(words) | self.parts[1].held_words(words))
        return len(frozenset().union(*(part.held_words(words) for part in self.parts)))

    def held_words(self, words: frozenset[str]) -> frozenset[str]:
        """The words a single document holds. The first few words asked of a document are looked up in its text
        (a claim or two seldom needs its whole word set); past SEARCHED_WORDS its word set is built once and
        intersected."""
        if words is self.asked:
            return self.holds
        content = self.contents[0]
        if self.searched + len(words) <= SEARCHED_WORDS and (text := document_tokens(content)) is not None:
            self.searched += len(words)
            held = frozenset([word for word in words if _holds_word(text, word)])
        else:
            held = words & document_terms(content)[0]
        self.asked, self.holds = words, held
        return held

    def quantities(self) -> tuple[Quantity, ...]:
        """Every number in the source, with units and dates."""
        if len(self.contents) == 1:
            return extract_quantities(self.contents[0])
        return tuple(q for c in self.contents for q in extract_quantities(c))

    def states_verbatim(self, phrase: str) -> bool:
        """Whether the source holds phrase ("12 watts") as written, not inside a longer number or word."""
        if len(self.contents) == 1:
            return _holds_phrase(document_lowered(self.contents[0]), phrase)
        return any(_holds_phrase(document_lowered(c), phrase) for c in self.contents)

    def states_sentence(self, key: str) -> bool:
        """Whether a whole sentence of the source reads key (lowercased, without its final stop): it must start
        where a sentence starts and end where one ends, so "…not true that X is covered" does not state "X is
        covered"."""
        for content in self.contents:
            text = document_lowered(content)
            at = text.find(key)
            while at != -1:
                end = at + len(key)
                starts = at == 0 or text[at - 1] == "\n" or (text[at - 1] == " " and text[at - 2 : at - 1] in ".!?:\n")
                if starts and (end == len(text) or text[end] in ".!?;\n"):
                    return True
                at = text.find(key, at + 1)
        return False

    def may_negate(self) -> bool:
        """Whether any sentence of the source may be negated."""
        return any(document_may_negate(c) for c in self.contents)

    def sentences(self) -> tuple[tuple[str, frozenset[str], frozenset[str], bool], ...]:
        """The source's clauses and sentences: (text, words, the words its negations govern, negated)."""
        if len(self.contents) == 1:
            return document_sentences(self.contents[0])
        return tuple(s for c in self.contents for s in document_sentences(c))


def document_label(document: Document, position: int) -> str:
    """How explanations name a document: its id, else its 1-based position."""
    return document.id or f"document {position}"


def sources_for(documents: Sequence[tuple[int, Document]]) -> list[Source]:
    """Index (position, document) pairs with text as sources (each analysed only when a claim needs it)."""
    return [
        Source(document_label(document, position), (document.content,))
        for position, document in documents
        if document.content
    ]


def neighbours(sources: Sequence[Source]) -> list[Source]:
    """Each pair of neighbouring sources read as one (a passage split across chunks)."""
    return [
        Source(f"{a.label}+{b.label}", a.contents + b.contents, _documents_of(a) + _documents_of(b))
        for a, b in zip(sources, sources[1:], strict=False)
    ]


def window(label: str, sources: Sequence[Source]) -> Source:
    """Sources read as one (their documents as its parts)."""
    return Source(
        label, tuple(c for s in sources for c in s.contents), tuple(d for s in sources for d in _documents_of(s))
    )


def _documents_of(source: Source) -> tuple[Source, ...]:
    """The single-document sources a source reads."""
    return source.parts or (source,)


def strip_markers(text: str) -> str:
    """Drop citation markers, URLs and markdown decoration (each pattern only when its trigger is present)."""
    for trigger, pattern in STRIPS:
        if trigger in text:
            if pattern is STRIPS[0][1] and "](" not in text:
                pattern = CITATION_MARKER_RE  # without "](" the link branch cannot match
            text = pattern.sub("", text)
    return text


def marker_free_sentences(text: str, sentences: Sequence[Sentence]) -> list[Sentence] | None:
    """split_sentences(strip_markers(text)) worked out from sentences = split_sentences(text), when text's only
    markup is numeric markers standing as "word [1][2]. Next" (None otherwise: split the stripped text instead).

    Why the two splits then agree: strip_markers only drops the markers (no other trigger is present); a run of
    markers follows an ASCII space and precedes a "." that ends the text or is followed by a space or newline, so no
    sentence boundary starts, ends or looks inside a run, the word before that "." is the run ("[1][2]", not an
    abbreviation, as "" is not) and a run in front of a following word is a "[" where the stripped text has "."
    (neither lowercase nor uppercase). Each stripped sentence is its marked sentence without the markers, stripped,
    dropped when no word is left (a sentence of markers alone); its offset moves back by the markers before it."""
    if "【" in text or ":" in text or "*" in text or "__" in text or "](" in text:
        return None
    ends: list[int] = []  # end offset of each marker
    removed: list[int] = []  # characters removed up to and including each marker
    total = 0
    run_at: int | None = None  # where the next marker must start: the run goes on
    for match in CITATION_MARKER_RE.finditer(text):
        start, end = match.span()
        if run_at is None and text[start - 1 : start] != " " or run_at is not None and start != run_at:
            return None
        if not text[start + 1 : end - 1].isdecimal():
            return None
        after = text[end : end + 1]
        if after == "[":
            run_at = end
        elif after == "." and text[end + 1 : end + 2] in ("", " ", "\n"):
            run_at = None
        else:
            return None
        total += end - start
        ends.append(end)
        removed.append(total)
    if run_at is not None:
        return None  # a run must end before its "."
    if not ends:
        return [Sentence(s.text, s.start) for s in sentences]  # nothing to strip: the same sentences
    out: list[Sentence] = []
    for sentence in sentences:
        marked = sentence.text
        bare = CITATION_MARKER_RE.sub("", marked) if "[" in marked else marked
        stripped = bare.strip()
        if not stripped or not (stripped[0].isalnum() or WORD_RE.search(stripped)):
            continue
        at = bisect_right(ends, sentence.start)  # markers ending at or before the sentence's start
        shift = removed[at - 1] if at else 0
        out.append(Sentence(stripped, sentence.start - shift + bare.index(stripped[0])))
    return out


# Hedges say how exact a figure is, not what it is about; unit words are checked with their numbers.
HEDGES = frozenset("roughly approximately around nearly almost about least most maximum minimum".split())
UNIT_WORDS = frozenset(stem(u) for u in [*UNITS, *CURRENCIES] if u.isalpha() and len(u) > 2) | {"percent"}


def _without_elision(words: set[str], text: str) -> set[str]:
    """French and Italian elisions name the same word: "l'essai" and "d'essai" are "essai"."""
    if "'" not in text:
        return words
    return {w.split("'", 1)[1] if "'" in w and len(w.split("'", 1)[0]) <= 3 else w for w in words}


@lru_cache(maxsize=16384)
def _sentence_analysis(text: str) -> tuple[frozenset[str], frozenset[str], int]:
    """(words without hedges, elisions and, when there are numbers, unit words; numbers; unit words dropped):
    one pass over a claim, shared by both checks."""
    words, numbers = content_terms(text)  # new sets: changed in place below
    words = _without_elision(words, text)
    words -= HEDGES
    units = 0
    if numbers:
        units = len(words & UNIT_WORDS)
        words -= UNIT_WORDS
    return frozenset(words), frozenset(numbers), units


@lru_cache(maxsize=16384)
def _sentence_flags(text: str) -> tuple[bool, bool]:
    """(whether a claim may spell a number, whether it may be negated): only needed for a claim that is not a
    source's sentence word for word, so kept apart from _sentence_analysis."""
    lowered = text.lower()
    tokens = punctuation_split(lowered)
    spells = not SPELL_WORDS.isdisjoint(tokens) or (
        ("a" in tokens or "an" in tokens) and not DURATION_WORDS.isdisjoint(tokens)
    )
    negates = not CUES.isdisjoint(tokens) or "n't" in lowered
    return spells, negates


def sentence_terms(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """content_terms of an answer sentence, without hedges and elisions (and without unit words when it has
    numbers: unit_words counts them); cached because grounding and citations read the same sentences."""
    words, numbers, _ = _sentence_analysis(text)
    return words, numbers


def unit_words(text: str) -> int:
    """How many unit words ("hours", "metres") a sentence with numbers has; its numbers check them, so they count
    as found in any source ("10 meters" against "10 metres")."""
    return _sentence_analysis(text)[2]


def claim_terms(text: str, min_content_words: int) -> tuple[frozenset[str], frozenset[str]] | None:
    """Return a sentence's (words, numbers) when it is a factual claim; None for questions, intros,
    pleasantries, hedges and sentences with too few content words."""
    if text.endswith(("?", ":")):
        return None
    lowered = text.lower()
    if NON_CLAIM_START_RE.match(lowered) or _has_non_claim_phrase(lowered):
        return None
    words, numbers = sentence_terms(text)
    if len(words) < min_content_words and not (numbers and words):
        return None
    return words, numbers


# What is_claim drops from a claim's stems when it has numbers (HEDGES, and unit words: see _sentence_analysis).
_HEDGES_AND_UNITS = HEDGES | UNIT_WORDS


def is_claim(text: str, min_content_words: int) -> bool:
    """Whether claim_terms(text, min_content_words) is not None, for ASCII text without apostrophes without building
    its word and number sets: whether it has numbers (a digit, or a spelt number token), then its stems looked up
    in order until min_content_words distinct ones count (_sentence_analysis' words: no "", hedge or, with
    numbers, unit word). A claim quoted word for word from a source never needs its words (see judge)."""
    if text.endswith(("?", ":")):
        return False
    lowered = text.lower()
    if NON_CLAIM_START_RE.match(lowered) or _has_non_claim_phrase(lowered):
        return False
    if not text.isascii() or "'" in text or min_content_words <= 0:
        return claim_terms(text, min_content_words) is not None  # elisions and apostrophe tokens: content_terms
    tokens = text.encode("ascii").translate(ASCII_WORD_BYTES).split()
    numbers = NUMBER_RE.search(text) is not None or not NUMBER_WORD_BYTES_SET.isdisjoint(tokens)
    dropped = _HEDGES_AND_UNITS if numbers else HEDGES
    found: set[str] = set()
    for token in tokens:
        word = CONTENT_STEMS[token]
        if word and word not in dropped:
            found.add(word)
            if len(found) >= min_content_words:
                return True
    return numbers and bool(found)  # fewer words than asked: a claim only with numbers and some word


def judge(
    text: str, sources: Sequence[Source], windows: Sequence[Source] | Callable[[], Sequence[Source]],
    threshold: float, *, combine: bool = False,
) -> Claim:  # fmt: skip
    """assess() of a claim (is_claim), its words and numbers (claim_terms') read only when no source quotes it."""
    if quoted(text, sources):
        return Claim(text, True, 1.0)
    words, numbers = sentence_terms(text)
    return assess(text, words, numbers, sources, windows, threshold, combine=combine, unquoted=True)


def claims(
    answer: str, documents: Sequence[Document], *, threshold: float, min_content_words: int,
    sentences: Sequence[Sentence] | None = None,
    terms: Sequence[tuple[frozenset[str], frozenset[str]] | None] | None = None,
    flags: Sequence[bool] | None = None,
) -> list[Claim]:  # fmt: skip
    """Split the answer into factual sentences and judge each against the documents (sentences and terms: the
    answer's claim sentences and their claim_terms, when the caller has them: checks/analysis).

    1. Drop code, citation markers, URLs and decoration; split into sentences.
    2. Skip questions, pleasantries, hedges, intros ending in ':' and sentences with too few content words.
    3. A claim is supported by one document (or two neighbouring ones) that holds at least `threshold` of its
       content words, states each of its numbers with the same unit or date, and whose closest sentence does
       not say the opposite.
    """
    sources = sources_for(list(enumerate(documents, 1)))
    windows: list[Source] | None = None

    def neighbouring() -> list[Source]:
        """The neighbouring pairs, built the first time a claim needs them (most claims never do)."""
        nonlocal windows
        if windows is None:
            windows = neighbours(sources) if len(sources) > 1 else []
        return windows

    if sentences is None:
        sentences = split_sentences(strip_markers(mask_code(normalise_apostrophes(answer))))
    results: list[Claim] = []
    if terms is None:  # which sentences are claims (flags: is_claim of each, when the caller has them)
        if flags is None:
            flags = [is_claim(sentence.text, min_content_words) for sentence in sentences]
        for sentence, claim in zip(sentences, flags, strict=True):
            if claim:
                results.append(judge(sentence.text, sources, neighbouring, threshold))
        return results
    for sentence, found in zip(sentences, terms, strict=True):
        if found is not None:
            results.append(assess(sentence.text, *found, sources, neighbouring, threshold))
    return results


def assess(
    text: str, words: frozenset[str], numbers: frozenset[str], sources: Sequence[Source],
    windows: Sequence[Source] | Callable[[], Sequence[Source]],
    threshold: float, *, combine: bool = False, unquoted: bool = False,
) -> Claim:  # fmt: skip
    """Judge one claim: supported by a source, or the most telling reason it is not (unquoted: the caller found
    no source quoting it word for word).

    Sources are tried from the one sharing most of the claim's words, then windows: neighbouring chunks when no
    single source holds enough of the words, or (combine) every cited document together in any case; the first that holds `threshold` of them, states its numbers and does not
    contradict it supports the claim. The reason for a failure is worded once, from the first source that failed.
    """
    if not unquoted and quoted(text, sources):
        return Claim(text, True, 1.0)  # the claim is a sentence of the source, word for word
    has_numbers = bool(numbers) or not text.isascii() or _may_spell(text)  # _may_spell: a cached look-up
    figures = Figures(text, verbatim_chunks(text) if has_numbers else ())
    units = unit_words(text) if numbers else 0
    best, failure = -1.0, None
    for group in (sources, windows):
        if callable(group):
            group = group()  # built only when the single sources did not settle the claim
        if not group:
            continue
        ranked = _ranked(words, group, units)
        best = max(best, ranked[0][0])
        candidates = [(overlap, source) for overlap, source in ranked if overlap >= threshold]
        # A source holding the claim's numbers as written settles it without parsing any document.
        for overlap, source in candidates if len(candidates) > 1 and figures.chunks else ():
            if figures.verbatim_in(source) and _mismatch(text, words, figures, source, numbers_checked=True) is None:
                return Claim(text, True, overlap)
        for overlap, source in candidates:
            why = _mismatch(text, words, figures, source)
            if why is None:
                return Claim(text, True, overlap)
            failure = failure or why
        if best >= threshold and not combine:
            break  # neighbouring chunks only help when no single document holds enough of the words
    if failure is not None:
        reason = failure if isinstance(failure, str) else _quantity_reason(*failure, words)
    else:
        reason = _unmatched_anywhere(figures.all(), sources) or f"{max(best, 0.0):.0%} of its terms found"
    return Claim(text, False, max(best, 0.0), reason)


def quoted(text: str, sources: Sequence[Source]) -> bool:
    """Whether some source has the claim (MIN_QUOTED characters or more) as one of its sentences, word for word."""
    key = _tidy(text).lower().rstrip(" .!?;")
    if len(key) >= MIN_QUOTED:
        for source in sources:
            if source.states_sentence(key):
                return True
    return False


def _ranked(words: frozenset[str], group: Sequence[Source], units: int = 0) -> list[tuple[float, Source]]:
    """The sources with the share of the claim's words each holds, most first (ties keep document order)."""
    size = len(words) + units
    scored = [((s.held(words) + units) / size if size else 1.0, s) for s in group]
    if len(scored) > 1:
        scored.sort(key=lambda item: -item[0])  # stable: the earlier document wins a tie
    return scored


class Figures:
    """A claim's numbers: the chunks a document may hold verbatim ("8 days"), parsed into Quantities only when
    a document does not (the parse costs more than the look-ups)."""

    __slots__ = ("chunks", "parsed", "text")

    def __init__(self, text: str, chunks: tuple[str, ...] | None) -> None:
        self.text = text
        self.chunks = chunks  # None: some number needs the full parse (a date, a price, a range, a spelt number)
        self.parsed: tuple[Quantity, ...] | None = None if chunks is None or chunks else ()

    def all(self) -> tuple[Quantity, ...]:
        """The claim's quantities, parsed once."""
        if self.parsed is None:
            self.parsed = extract_quantities(self.text)
        return self.parsed

    def verbatim_in(self, source: Source) -> bool:
        """Whether the source holds every number of the claim as written, with the word after it."""
        if not self.chunks:
            return self.chunks is not None
        for chunk in self.chunks:
            if not source.states_verbatim(chunk):
                return False
        return True


# A number with the word or sign after it: "8 days", "12 watts", "30%", "4".
CHUNK_RE = re.compile(r"\d+(?:[.,]\d+)*(?:[\s-]?(?:[^\W\d_]+|%))?")


@lru_cache(maxsize=16384)
def verbatim_chunks(text: str) -> tuple[str, ...] | None:
    """The claim's numbers with their next word, to look up verbatim; None when some number needs the full
    parse: after a currency sign, a month name or a letter, in a date, time or range, or spelt out."""
    if not text.isascii() or _may_spell(text):
        return None
    lowered = text.lower()
    chunks = []
    for match in CHUNK_RE.finditer(lowered):
        start, end = match.span()
        if start and (lowered[start - 1].isalnum() or lowered[start - 1] in "$:/-.,#"):
            return None
        if end < len(lowered) and lowered[end] in ":/-":
            return None
        before = lowered[max(0, start - 12) : start].split()
        if before and before[-1].strip(",.") in MONTHS:
            return None
        chunks.append(match.group())
    return tuple(chunks)


# Words that spell a number or a share, and what "a"/"an" can count ("an hour"): a set test, no regex.
SPELL_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion "
    "half quarter quarters dozen".split()
)
DURATION_WORDS = frozenset("hour hours day days week weeks month months year years minute minutes".split())


def _may_spell(text: str) -> bool:
    """Whether ASCII text may spell a number ("six", "an hour", "three quarters")."""
    return _sentence_flags(text)[0]


def _mismatch(
    text: str, words: frozenset[str], figures: Figures, source: Source, *, numbers_checked: bool = False
) -> str | tuple[Quantity, Source] | None:
    """Why a source that holds the claim's words still does not support it: None when it does, the unmatched
    number and the source (worded only if no other source supports the claim), or a contradiction."""
    if not numbers_checked and not figures.verbatim_in(source):
        held = None  # the source's quantities, parsed only for a figure it does not write as the claim does
        for quantity in figures.all():
            if quantity.written and source.states_verbatim(quantity.written):
                continue  # "12 watts" as the document writes it
            if held is None:
                held = source.quantities()
            if not quantity_found(quantity, held):
                return quantity, source
    negated = _sentence_flags(text)[1] and is_negated(text)
    if not negated and not source.may_negate():
        return None
    return _contradiction(text, words, source)


def _contradiction(text: str, words: frozenset[str], source: Source) -> str | None:
    """Whether the closest source clause or sentence says the opposite of a clause of the claim: one of the two
    is negated and its negation governs a word the other states ("accidental damage is covered" against "…is not
    covered"). Two negated statements never contradict here: "we don't ship there" = "shipping there is not
    available"."""
    for clause in CLAUSE_BREAK_RE.split(text) or [text]:
        clause_words = sentence_terms(clause)[0] - CUES if clause != text else words - CUES
        if not clause_words:
            continue
        closest, overlap, closest_denied, closest_negated = _closest(clause_words, source)
        negated, denied = polarity(clause)
        if overlap < POLARITY_OVERLAP or negated == closest_negated:
            continue
        if closest_negated and _roots(clause_words) & _roots(closest_denied):
            return f"{source.label} denies it: {clip(closest, 90)!r}"
        if negated and _roots(denied) & _roots(sentence_terms(closest)[0] - CUES):
            return f"{source.label} says the opposite: {clip(closest, 90)!r}"
    return None


def _roots(words: frozenset[str]) -> frozenset[str]:
    """Stems with "-able"/"-ible" dropped, so "refunded" meets "non-refundable"."""
    return frozenset(w[:-3] if len(w) > 6 and w.endswith(("abl", "ibl")) else w for w in words)


@lru_cache(maxsize=16384)
def polarity(text: str) -> tuple[bool, frozenset[str]]:
    """(negated, the content words its negations govern)."""
    span = negated_span(text)
    return bool(span) or is_negated(text), frozenset(content_terms(" ".join(span))[0]) - CUES if span else frozenset()


def _quantity_reason(quantity: Quantity, source: Source, words: frozenset[str]) -> str:
    """Word a number mismatch: "answer says 10 hours; kb-1 says 14 hours"."""
    return f"answer says {quantity.text}; {_what_source_says(quantity, words, source)}"


def _closest(words: frozenset[str], source: Source) -> tuple[str, float, frozenset[str], bool]:
    """The source clause or sentence sharing most of the claim's words: (text, overlap, the words its negations
    govern, negated)."""
    closest: tuple[str, float, frozenset[str], bool] = ("", 0.0, frozenset(), False)
    for sentence, sentence_words, denied, negated in source.sentences():
        overlap = len(words & sentence_words) / len(words) if words else 0.0
        if overlap > closest[1]:
            closest = (sentence, overlap, denied, negated)
    return closest


def _what_source_says(quantity: Quantity, words: frozenset[str], source: Source) -> str:
    """The source's figure for what the claim states: of its amounts of the same kind, the one whose
    surroundings (60 characters each side) hold most of the claim's words."""
    candidates = [q for q in source.quantities() if counterpart(quantity, (q,))]
    if not candidates:
        return f"{source.label} does not state it"
    other = candidates[0]
    if len(candidates) > 1:
        text = " ".join(document_lowered(c) for c in source.contents)

        def nearby_words(candidate: Quantity) -> int:
            at = text.find(candidate.written or candidate.text)
            window = text[max(0, at - 60) : at + 60] if at >= 0 else ""
            return sum(map(window.__contains__, words))  # how many of the words occur in it (a C loop)

        other = max(candidates, key=nearby_words)
    return f"{source.label} says {other.text}"


def _unmatched_anywhere(quantities: tuple[Quantity, ...], sources: Sequence[Source]) -> str:
    """Name a number of a claim no document holds enough words of, when no document has that number at all
    (a cheap look at each document's digits: this only words the reason, the claim already failed)."""
    for quantity in quantities:
        if quantity.dim in ("date", "month", "monthday", "clock"):
            continue
        number = normalise_number(f"{quantity.raw:f}")
        if not any(s.states_number(number) for s in sources):
            return f"answer says {quantity.text}, which no document states"
    return ""


def describe(claim: Claim) -> str:
    """Quote an unsupported claim with the reason."""
    text = clip(_tidy(claim.text), 90)
    return f"{text!r} ({claim.reason})"
