"""One answer read once for every check of a trace: its masked text, its claim sentences with their terms, its
word count and its refusal verdict.

The checks of one trace read the same answer: grounding and the citations check's uncited path split the same
marker-free text into sentences and take the same content words of each; citations and refusal both ask whether
it is a refusal. `answer_analysis(subject)` keeps what the first check worked out on the subject for the next;
every check still runs alone (the first to ask builds it), and each value is computed exactly as the check did on
its own, so results are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.evaluators.checks.support import claim_terms, is_claim, marker_free_sentences, strip_markers
from apps.evaluators.checks.text import Sentence, mask_code, normalise_apostrophes, split_sentences, word_count
from apps.evaluators.subject import Subject

if TYPE_CHECKING:
    from apps.evaluators.checks.refusal import RefusalVerdict


class AnswerAnalysis:
    """What the checks read of one answer text, each part worked out when first asked for."""

    __slots__ = ("_claim_sentences", "_flags", "_masked", "_refusal", "_sentences", "_terms", "_word_count", "output")

    def __init__(self, output: str) -> None:
        self.output = output
        self._masked: str | None = None
        self._sentences: list[Sentence] | None = None
        self._claim_sentences: list[Sentence] | None = None
        # min_content_words → each claim sentence's claim_terms (None: not a claim)
        self._terms: dict[int, list[tuple[frozenset[str], frozenset[str]] | None]] = {}
        self._flags: dict[int, list[bool]] = {}  # min_content_words → whether each claim sentence is a claim
        self._word_count: int | None = None
        self._refusal: RefusalVerdict | None = None

    def masked(self) -> str:
        """The answer with typographic apostrophes made ASCII and code blanked (offsets kept)."""
        if self._masked is None:
            self._masked = mask_code(normalise_apostrophes(self.output))
        return self._masked

    def sentences(self) -> list[Sentence]:
        """The sentences of the masked answer, markers kept (what the citations check assigns markers to)."""
        if self._sentences is None:
            self._sentences = split_sentences(self.masked())
        return self._sentences

    def claim_sentences(self) -> list[Sentence]:
        """The sentences of the masked answer once citation markers, URLs and decoration are dropped: worked out from
        the marked sentences when marker_free_sentences shows the two splits agree, else split afresh (one split
        of a ~1.5 KB answer costs about as much as the claims of a quoted answer take to check)."""
        if self._claim_sentences is None:
            masked = self.masked()
            derived = marker_free_sentences(masked, self.sentences())
            self._claim_sentences = split_sentences(strip_markers(masked)) if derived is None else derived
        return self._claim_sentences

    def claim_terms(self, min_content_words: int) -> list[tuple[frozenset[str], frozenset[str]] | None]:
        """claim_terms of each claim sentence, in order."""
        terms = self._terms.get(min_content_words)
        if terms is None:
            terms = self._terms[min_content_words] = [
                claim_terms(s.text, min_content_words) for s in self.claim_sentences()
            ]
        return terms

    def claim_flags(self, min_content_words: int) -> list[bool]:
        """Whether each claim sentence is a claim (claim_terms is not None), without its words unless claim_terms
        already read them."""
        flags = self._flags.get(min_content_words)
        if flags is None:
            terms = self._terms.get(min_content_words)
            flags = self._flags[min_content_words] = (
                [found is not None for found in terms]
                if terms is not None
                else [is_claim(s.text, min_content_words) for s in self.claim_sentences()]
            )
        return flags

    def word_count(self) -> int:
        """The answer's word count."""
        if self._word_count is None:
            self._word_count = word_count(self.output)
        return self._word_count

    def refusal(self) -> RefusalVerdict:
        """detect_refusal of the answer with its default options (what the refusal check's defaults ask)."""
        if self._refusal is None:
            from apps.evaluators.checks.refusal import detect_refusal  # noqa: PLC0415 - refusal imports this module

            self._refusal = detect_refusal(self.output)
        return self._refusal


def answer_analysis(subject: Subject) -> AnswerAnalysis:
    """The analysis of the subject's answer, kept on the subject for its other checks (rebuilt if the answer
    was replaced)."""
    analysis = subject.analysis
    if analysis is None or analysis.output is not subject.output:
        analysis = subject.analysis = AnswerAnalysis(subject.output)
    return analysis
