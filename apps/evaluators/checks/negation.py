"""Negation detection: does a sentence deny what it states? English, Spanish, French, German, Portuguese,
Italian and Dutch.

A sentence is negated when it holds a negation cue ("not", "n't", "never", "no", "sin", "pas", "kein",
"não", "non", "geen", …) or a negative predicate ("excluded", "non-refundable"), after phrases that look
negative but state a bound or a price ("no later than", "at no extra cost", "not only") are set aside.
Pure and cheap: a sentence costs one token split and set lookups.
"""

from __future__ import annotations

import re
from functools import lru_cache

from apps.evaluators.checks.text import punctuation_split

CUES = frozenset(
    # en
    "not no never none nothing nobody nowhere neither nor cannot without excluded excludes exclude "
    "ineligible non nonrefundable prohibited forbidden unavailable "
    # es
    "nunca jamás ningún ninguna ninguno nada nadie ni sin tampoco excluido excluida excluidos "
    # fr ("ne" is left out: "pas", "jamais", "rien", "aucun" carry the meaning, and Italian "ne" is not a negation)
    "pas jamais rien aucun aucune sans exclu exclue exclus "
    # de
    "nicht kein keine keinen keinem keiner keines nie niemals nichts ohne weder ausgeschlossen "
    # pt
    "não nenhum nenhuma sem nem excluído excluída "
    # it ("mai" alone is also a French and German month)
    "nessun nessuno nessuna niente nulla senza escluso esclusa esclusi "
    # nl
    "niet geen nooit niets zonder noch nergens uitgesloten".split()
)
# Phrases that carry a negation word without denying the statement: bounds, prices, idioms.
NEUTRAL_RE = re.compile(
    r"\b(?:no (?:later|more|less|fewer|sooner|earlier) than|not (?:later|more|less|fewer) than|"
    r"not only|not just|no matter|no problem|(?:at |for )?no (?:extra |additional )?(?:cost|charge|fee)s?|"
    r"(?:sin|sem|sans|senza|ohne|zonder) (?:coste|costo|custo|frais|kosten|costi|cargo|cargos) adicional(?:es)?|"
    r"(?:sin|sem|sans|senza|ohne|zonder) (?:coste|costo|custo|costi|cargo|frais|kosten|aufpreis|meerkosten)|"
    r"no (?:más|mas) (?:tarde )?(?:de|que)|pas plus (?:tard )?que|nicht (?:später|mehr) als|"
    r"non (?:oltre|più tardi di)|niet later dan|não mais (?:tarde )?(?:de|que)|without (?:any )?(?:extra |additional )?"
    r"(?:cost|charge|fee)s?)\b"
)
TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# A negation's scope runs to the end of its clause: a stop, a colon or semicolon, a contrast ("but", "pero",
# "mais", "aber", "ma", "maar", "mas") or ", and" (", y", ", et", ", und", ", e", ", en").
SCOPE_END_RE = re.compile(
    r"[.;:!?]|\b(?:but|however|whereas|although|pero|sino|mais|aber|sondern|ma|maar|mas|porém)\b|"
    r",\s*(?:and|y|et|und|e|en)\b"
)
SCOPE_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|[.;:!?]|,(?:\s*(?:and|y|et|und|e|en)\b)?")
# Prepositions that negate only the phrase after them ("without a PIN", "sin coste"): up to a comma or 3 words.
PREPOSITION_CUES = frozenset("without sin sans ohne sem senza zonder".split())
# Tokens that only Portuguese uses among the seven languages: where they appear, "no" is "in the", not "no".
PORTUGUESE = frozenset(
    "você não são está também após até têm pelo pela pelos pelas uma seu sua devem em ao aos às".split()
)


@lru_cache(maxsize=16384)
def negation_cues(text: str) -> tuple[str, ...]:
    """Return the negation cues of a sentence, in order ("not", "n't", "kein", …); empty when it is affirmative."""
    lowered = text.lower()
    if not may_hold_negation(lowered):
        return ()
    lowered = NEUTRAL_RE.sub(" ", lowered)
    found: list[str] = []
    tokens = TOKEN_RE.findall(lowered)
    portuguese = "no" in tokens and not PORTUGUESE.isdisjoint(tokens)
    for token in tokens:
        if token in CUES and not (portuguese and token == "no"):
            found.append(token)
        elif token.endswith(("n't", "n’t")) or token == "cant":
            found.append("n't")
    return tuple(found)


@lru_cache(maxsize=16384)
def negated_span(text: str) -> tuple[str, ...]:
    """Return the words a sentence's negations govern: those after a cue to the end of its clause
    ("Accidental damage is not covered by the warranty" → covered, by, the, warranty)."""
    if not negation_cues(text):
        return ()
    lowered = NEUTRAL_RE.sub(" ", text.lower())
    tokens = SCOPE_TOKEN_RE.findall(lowered)
    portuguese = "no" in tokens and not PORTUGUESE.isdisjoint(tokens)
    governed: list[str] = []
    inside = False
    budget = -1  # words a prepositional cue still governs; -1: to the end of the clause
    for token in tokens:
        if SCOPE_END_RE.fullmatch(token) or token.startswith(","):
            if budget >= 0 or token != ",":  # a bare comma inside a clause ("Canarias, Ceuta ni Melilla") goes on
                inside = False
            continue
        if token in CUES and not (portuguese and token == "no"):
            inside, budget = True, 3 if token in PREPOSITION_CUES else -1
        elif token.endswith(("n't", "n’t")) or token == "cant":
            inside, budget = True, -1
        elif inside:
            governed.append(token)
            if budget > 0:
                budget -= 1
                inside = budget > 0
    return tuple(governed)


def is_negated(text: str) -> bool:
    """Return whether the sentence is negated (holds any negation cue)."""
    return bool(negation_cues(text))


def may_hold_negation(lowered: str) -> bool:
    """A cheap pre-test on lowercased text: False means no sentence of it is negated."""
    if "n't" in lowered or "n’t" in lowered:
        return True
    return not CUES.isdisjoint(punctuation_split(lowered))
