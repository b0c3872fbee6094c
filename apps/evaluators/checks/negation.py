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


@lru_cache(maxsize=16384)
def negation_cues(text: str) -> tuple[str, ...]:
    """Return the negation cues of a sentence, in order ("not", "n't", "kein", …); empty when it is affirmative."""
    lowered = text.lower()
    if not may_hold_negation(lowered):
        return ()
    lowered = NEUTRAL_RE.sub(" ", lowered)
    found: list[str] = []
    for token in TOKEN_RE.findall(lowered):
        if token in CUES:
            found.append(token)
        elif token.endswith(("n't", "n’t")) or token == "cant":
            found.append("n't")
    return tuple(found)


def is_negated(text: str) -> bool:
    """Return whether the sentence is negated (holds any negation cue)."""
    return bool(negation_cues(text))


# ASCII punctuation → space, so str.split() yields the words (a C loop, several times cheaper than findall).
PUNCTUATION_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})


def may_hold_negation(lowered: str) -> bool:
    """A cheap pre-test on lowercased text: False means no sentence of it is negated."""
    if "n't" in lowered or "n’t" in lowered:
        return True
    return not CUES.isdisjoint(lowered.translate(PUNCTUATION_TO_SPACE).split())
