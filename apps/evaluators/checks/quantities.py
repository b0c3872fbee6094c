"""Numbers, quantities and dates in text, normalised so that equal facts compare equal.

"three quarters of an hour" and "45 minutes" are both 2,700 seconds; "1.3 kilograms" and "1,3 kg" are both
1,300 grams; "5–7 days" and "5 to 7 days" are both 5 days and 7 days; "March 3, 2025", "3 March 2025" and
"2025-03-03" are the same date. Pure and cheap: text without a digit or a number word costs one regex search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from apps.evaluators.checks.text import STOPWORDS, punctuation_split, stem


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number as written (raw), in base units of its dimension (value), and how to show it."""

    value: float  # in base units: seconds, grams, metres, litres, bytes; a date as yyyymmdd
    raw: float  # the number as written ("45" of "45 minutes")
    dim: str  # "" for a bare number; "time", "mass", "percent", "currency:USD", "date", …
    text: str  # for explanations: "45 minutes", "$14.99", "2025-03-03"
    written: str = ""  # as it stands in the (lowercased) text, when digits were written: "2-year", "3 am"


# --- number words ---------------------------------------------------------------------------------

EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# Small numbers in es/fr/de/pt/it/nl; words that are also common English or other words ("once", "due",
# "cent", "sept", "um") are left out on purpose.
OTHER_WORDS = {
    # es
    "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
    "diez": 10, "doce": 12, "quince": 15, "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50,
    "sesenta": 60, "noventa": 90, "cien": 100,
    # fr
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12,
    "quinze": 15, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
    # de
    "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
    "zwölf": 12, "vierzehn": 14, "fünfzehn": 15, "zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50,
    "sechzig": 60, "neunzig": 90, "hundert": 100,
    # pt
    "dois": 2, "duas": 2, "três": 3, "quatro": 4, "sete": 7, "oito": 8, "nove": 9, "dez": 10, "catorze": 14,
    "quatorze": 14, "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "sessenta": 60,
    # it
    "tre": 3, "quattro": 4, "cinque": 5, "sette": 7, "dieci": 10, "dodici": 12, "quattordici": 14,
    "quindici": 15, "venti": 20, "trenta": 30, "quaranta": 40, "sessanta": 60, "novanta": 90,
    # nl
    "twee": 2, "drie": 3, "vijf": 5, "zes": 6, "zeven": 7, "negen": 9, "tien": 10, "twaalf": 12,
    "veertien": 14, "vijftien": 15, "twintig": 20, "dertig": 30, "veertig": 40, "vijftig": 50, "zestig": 60,
    "negentig": 90, "honderd": 100,
}  # fmt: skip
_EN_WORD = "|".join(sorted([*EN_UNITS, *SCALES], key=len, reverse=True))
# No leading \b: a pattern opening on an alternation of words lets the engine skip ahead (the callback checks
# the start); the words end on \b.
EN_NUMBER_RE = re.compile(rf"(?:{_EN_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_EN_WORD}))*\b")
OTHER_NUMBER_RE = re.compile(r"\b(?:" + "|".join(sorted(OTHER_WORDS, key=len, reverse=True)) + r")\b")
# Fractions and articles, applied in order once spelt numbers are digits; each only when one of its trigger
# tokens is in the text (DURATION marks the article rule, which needs an article and a duration word).
DURATION = frozenset({"<duration>"})
# Words after which "a"/"an" before a duration means one: "within an hour", "for a week", "takes a day".
DURATION_VERBS = frozenset("within in for after over under about than take takes last lasts least once".split())
_HALF = frozenset("half demi demie media meia mezzo mezza".split())
FRACTIONS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (frozenset({"quarter", "quarters"}), re.compile(r"\b(\d+) quarters? of an? "), "{q} "),  # 3 quarters of an hour
    (frozenset({"quarter"}), re.compile(r"\b(?:an? )?quarter of an? "), "0.25 "),
    (frozenset({"half"}), re.compile(r"\b(\d+) and an? half "), "{h} "),  # "1 and a half hours" → 1.5 hours
    (frozenset({"half"}), re.compile(r"\ban? (hour|day|week|month|year|minute) and an? half\b"), "1.5 \\1s"),
    (_HALF, re.compile(r"\b(\d+) (\w+) (?:et demie?|y media|e meia|e mezz[oa]|en een half|and a half)\b"), "{h2}"),
    (frozenset({"half"}), re.compile(r"\bhalf (?:an?|a) "), "0.5 "),
    (frozenset({"half"}), re.compile(r"\b(?:an? )?half-"), "0.5 "),  # "a half-hour"
    (
        frozenset("media medio meia mezzo mezza demi halbe halben halbes half".split()),
        re.compile(r"\b(?:media|medio|meia|mezz[oa]|une demi|demi|eine halbe|einer halben|ein halbes|een half)[\s-]"),
        "0.5 ",
    ),
    (frozenset({"dozen"}), re.compile(r"\b(\d+) dozen\b"), "{d}"),
    (frozenset({"dozen"}), re.compile(r"\ban? dozen\b"), "12"),
    # "within an hour", "for a week": the article is a number only after words that take a duration.
    (
        DURATION,
        re.compile(r" an? (?=(?:hour|day|week|month|year|minute|business day|working day)s?\b)"),
        "{dur}",
    ),
)  # fmt: skip


def _en_value(words: str) -> int | None:
    """Value of an English number phrase ("twenty-five", "two thousand five hundred")."""
    total = current = 0
    for word in re.split(r"[\s-]+", words):
        if word == "and":
            continue
        if word in EN_UNITS:
            current += EN_UNITS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        else:
            total += (current or 1) * SCALES[word]
            current = 0
    return total + current


def _en_number(match: re.Match[str]) -> str:
    """Replace a spelt English number with digits, unless it is the tail of a longer word ("someone")."""
    start = match.start()
    if start and match.string[start - 1].isalpha():
        return match.group()
    if match.group() == "one":
        # A lone "one" is mostly a pronoun or an article ("one of", "one network"); only "one hour" is an amount.
        following = match.string[match.end() : match.end() + 12].split(maxsplit=1)
        if not following or following[0].strip(".,;:") not in UNITS:
            return match.group()
    return str(_en_value(match.group()))


def _fraction(match: re.Match[str], template: str) -> str:
    """Fill a FRACTIONS template from the matched number."""
    if "{" not in template:
        return match.expand(template)
    if template == "{dur}":
        before = match.string[max(0, match.start() - 8) : match.start()].rsplit(" ", 1)[-1]
        return " 1 " if before in DURATION_VERBS or match.string.endswith("up to", 0, match.start()) else match.group()
    n = float(match.group(1))
    if template == "{h2}":  # "2 heures et demie" → "2.5 heures"
        return f"{_fmt(n + 0.5)} {match.group(2)}"
    return template.format(q=_fmt(n * 0.25), h=_fmt(n + 0.5), d=_fmt(n * 12))


# Tokens that make spelt numbers or fractions possible; a set intersection decides whether any regex runs.
EN_NUMBER_TOKENS = frozenset([*EN_UNITS, *SCALES])
OTHER_NUMBER_TOKENS = frozenset(OTHER_WORDS)
FRACTION_TOKENS = frozenset(
    "half halves quarter quarters dozen media medio meia mezzo mezza demi demie halbe halben halbes".split()
)
DURATION_TOKENS = frozenset("hour hours day days week weeks month months year years minute minutes".split())
ARTICLE_TOKENS = frozenset(("a", "an"))


def text_tokens(lowered: str) -> set[str]:
    """The words and digit runs of lowercased text, as a set."""
    return set(punctuation_split(lowered))


def spell_out_numbers(lowered: str, tokens: set[str] | None = None) -> str:
    """Return lowercased text with spelt numbers and fractions written as digits."""
    tokens = text_tokens(lowered) if tokens is None else tokens
    english = not tokens.isdisjoint(EN_NUMBER_TOKENS)
    other = not tokens.isdisjoint(OTHER_NUMBER_TOKENS)
    fractions = not tokens.isdisjoint(FRACTION_TOKENS)
    durations = not tokens.isdisjoint(ARTICLE_TOKENS) and not tokens.isdisjoint(DURATION_TOKENS)
    if not (english or other or fractions or durations):
        return lowered
    text = lowered
    if english:
        text = EN_NUMBER_RE.sub(_en_number, text)
    if other:
        text = OTHER_NUMBER_RE.sub(lambda m: str(OTHER_WORDS[m.group()]), text)
    if fractions or durations:
        present = tokens | DURATION if durations else tokens
        for triggers, pattern, template in FRACTIONS:
            if not present.isdisjoint(triggers):
                text = pattern.sub(lambda m, t=template: _fraction(m, t), text)
    return text


# --- units ------------------------------------------------------------------------------------------


def _units(dim: str, factor: float, words: str) -> dict[str, tuple[str, float]]:
    return dict.fromkeys(words.split(), (dim, factor))


UNITS: dict[str, tuple[str, float]] = {
    **_units("time", 1, "s sec secs second seconds segundo segundos seconde secondes sekunde sekunden secondo "
             "secondi seconden"),
    **_units("time", 60, "min mins minute minutes minuto minutos minuten minuti minuut"),
    **_units("time", 3600, "h hr hrs hour hours hora horas heure heures stunde stunden std ora ore uur uren"),
    **_units("time", 86400, "day days día días dia dias jour jours tag tage tagen giorno giorni dag dagen "
             "werktage werktagen werkdagen"),
    **_units("time", 604800, "wk wks week weeks semana semanas semaine semaines woche wochen settimana settimane "
             "weken"),
    **_units("time", 31536000 / 12, "month months mo mes meses mois monat monate monaten mese mesi maand maanden"),
    **_units("time", 31536000, "yr yrs year years año años ano anos an ans année années jahr jahre jahren anno "
             "anni jaar jaren"),
    **_units("mass", 0.001, "mg milligram milligrams"),
    **_units("mass", 1, "g gram grams gramme grammes gramm gramo gramos grammi"),
    **_units("mass", 1000, "kg kgs kilo kilos kilogram kilograms kilogramm kilogramme kilogrammes kilogramo kilogramos "
             "chilogrammi"),
    **_units("mass", 453.592, "lb lbs pound pounds libra libras"),
    **_units("mass", 28.3495, "oz ounce ounces"),
    **_units("length", 0.001, "mm millimeter millimeters millimetre millimetres"),
    **_units("length", 0.01, "cm centimeter centimeters centimetre centimetres centímetros centimetri"),
    **_units("length", 1, "m meter meters metre metres metro metros mètre mètres metri"),
    **_units("length", 1000, "km kilometer kilometers kilometre kilometres kilómetro kilómetros kilomètres "
             "chilometri"),
    **_units("length", 0.0254, "inch inches"),
    **_units("length", 0.3048, "ft foot feet"),
    **_units("length", 1609.344, "mi mile miles"),
    **_units("volume", 0.001, "ml milliliter milliliters millilitre millilitres"),
    **_units("volume", 1, "l liter liters litre litres litro litros litri"),
    **_units("data", 1e3, "kb kilobyte kilobytes"),
    **_units("data", 1e6, "mb megabyte megabytes"),
    **_units("data", 1e9, "gb gigabyte gigabytes"),
    **_units("data", 1e12, "tb terabyte terabytes"),
    **_units("data", 2**20, "mib"),
    **_units("data", 2**30, "gib"),
    **_units("data", 2**40, "tib"),
    **_units("rate", 1e6, "mbps mbit/s"),
    **_units("rate", 1e9, "gbps gbit/s"),
    **_units("charge", 1, "mah"),
    **_units("energy", 1, "wh"),
    **_units("power", 1, "w watt watts"),
    **_units("power", 1000, "kw"),
    **_units("temp:c", 1, "°c ºc"),
    **_units("temp:f", 1, "°f ºf"),
    **_units("percent", 1, "% percent pct prozent procent"),
}  # fmt: skip
# Multi-word and symbol units, tried before single words.
PHRASE_UNITS = {"per cent": "percent", "por ciento": "percent", "pour cent": "percent", "per cento": "percent",
                "por cento": "percent", "degrees celsius": "°c", "degrees fahrenheit": "°f"}  # fmt: skip
for _phrase, _unit in PHRASE_UNITS.items():
    UNITS[_phrase] = UNITS[_unit]
CURRENCIES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "dólares": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "¥": "JPY", "jpy": "JPY", "yen": "JPY", "chf": "CHF", "cad": "CAD", "aud": "AUD",
}  # fmt: skip
_UNIT_ALT = "|".join(re.escape(u) for u in sorted([*UNITS, *CURRENCIES], key=len, reverse=True))
_PREFIX_CUR = "|".join(
    re.escape(c) for c in sorted(("$", "us$", "usd", "€", "eur", "£", "gbp", "¥", "chf"), key=len, reverse=True)
)
_NUM = r"\d+(?:[.,]\d+)*"
# [currency] NUMBER [range connector [currency] NUMBER] [business|working|…] [unit]
UNIT_MODIFIERS = frozenset(
    "business working calendar full hábiles laborables ouvrés ouvrables lavorativi úteis".split()
)
# NUMBER [range connector [currency] NUMBER] [up to two words or a sign: the unit, looked up in UNITS]. The unit
# is a generic word here and a dict lookup after: an alternation of hundreds of unit names is tried one by one.
# The first number is spelt "\d\d*…" rather than "\d+…": a pattern opening on a character set lets CPython's re
# skip ahead to the digits (three times faster on prose) instead of trying a match at every position.
QUANTITY_RE = re.compile(
    r"(\d\d*(?:[.,]\d+)*)"
    rf"(?:\s*(?:-|to|and|or|a|à|bis|tot|y|e|al|ao|through)\s*(?:{_PREFIX_CUR})?\s?({_NUM}))?"
    r"(?:[\s-]?([^\W\d_]+(?:/s)?|%|[°º][cf]|[€$£¥])(?:\s+([^\W\d_]+))?(?:\s+([^\W\d_]+))?)?"
)
# Both open on a digit so the engine can skip ahead; what may not precede a match is checked by hand.
CLOCK_RE = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?(?!\w)|(\d{1,2}):(\d{2})(?![\d:])")

# --- dates ------------------------------------------------------------------------------------------

MONTHS = {
    **dict.fromkeys("january jan enero janvier januar jänner gennaio januari janeiro".split(), 1),
    **dict.fromkeys("february feb febrero février februar febbraio februari fevereiro".split(), 2),
    **dict.fromkeys("march mar marzo mars märz maart março".split(), 3),
    **dict.fromkeys("april apr abril avril aprile".split(), 4),
    **dict.fromkeys("may mayo mai maggio mei maio".split(), 5),
    **dict.fromkeys("june jun junio juin juni giugno junho".split(), 6),
    **dict.fromkeys("july jul julio juillet juli luglio julho".split(), 7),
    **dict.fromkeys("august aug agosto août augustus".split(), 8),
    **dict.fromkeys("september sep sept septiembre septembre settembre setembro".split(), 9),
    **dict.fromkeys("october oct octubre octobre oktober ottobre outubro".split(), 10),
    **dict.fromkeys("november nov noviembre novembre novembro".split(), 11),
    **dict.fromkeys("december dec diciembre décembre dezember dicembre dezembro".split(), 12),
}
_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_RES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})(?!\d)"), "ymd"),
    # "march 3, 2025", "march 3rd 2025", "march 3"
    (re.compile(rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"), "mdy"),
    # "3 march 2025", "3rd of march", "3 de marzo de 2025", "3. märz 2025", "le 3 mars"
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|º|°)?\.?\s+(?:of\s+|de\s+)?({_MONTH_ALT})\b\.?(?:,?\s+(?:de\s+)?(\d{{4}})\b)?"), "dmy"),
    # "march 2025", "marzo de 2025"
    (re.compile(rf"\b({_MONTH_ALT})\.?\s+(?:de\s+|of\s+)?(\d{{4}})\b"), "my"),
)  # fmt: skip


def _dates(text: str, found: list[Quantity], tokens: set[str]) -> str:
    """Collect dates from text into found; return text with them blanked (their numbers are not amounts)."""
    months = not tokens.isdisjoint(MONTHS)
    if not months and "-" not in text:
        return text
    for pattern, order in DATE_RES:
        if order != "ymd" and not months:
            continue

        def collect(m: re.Match[str], order: str = order) -> str:
            if order == "ymd":
                y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
            elif order == "mdy":
                mo, d, y = MONTHS[m.group(1)], int(m.group(2)), int(m.group(3) or 0)
            elif order == "dmy":
                d, mo, y = int(m.group(1)), MONTHS[m.group(2)], int(m.group(3) or 0)
            else:
                mo, y, d = MONTHS[m.group(1)], int(m.group(2)), 0
            if not (1 <= mo <= 12 and 0 <= d <= 31):
                return m.group()
            if d == 0:
                found.append(Quantity(y * 100 + mo, y, "month", f"{y}-{mo:02d}"))
            elif y:
                found.append(Quantity(y * 10000 + mo * 100 + d, y, "date", f"{y}-{mo:02d}-{d:02d}"))
                found.append(Quantity(d, d, "", str(d)))
            else:
                found.append(Quantity(mo * 100 + d, d, "monthday", f"{mo:02d}-{d:02d}"))
            if y:
                found.append(Quantity(y, y, "", str(y)))  # "in 2025" matches a document's full date
            return " " * len(m.group())

        text = pattern.sub(collect, text)
    return text


CLOCK_HINT_RE = re.compile(r"\d(?::\d\d)?\s?[ap]\.?m")
DIGIT_RE = re.compile(r"\d")


def _may_hold_clock(lowered: str) -> bool:
    """Whether CLOCK_HINT_RE can match: it needs "am", "pm", "a.m" or "p.m" (substring tests cost next to nothing)."""
    return "am" in lowered or "pm" in lowered or "a.m" in lowered or "p.m" in lowered


# --- parsing ----------------------------------------------------------------------------------------


def parse_number(token: str) -> float:
    """Parse "1,299.50", "1.299,50", "1,3", "1,300" and "14.99" the way a reader would."""
    if "," in token and "." in token:
        if token.rfind(",") > token.rfind("."):
            token = token.replace(".", "").replace(",", ".")  # 1.299,50
        else:
            token = token.replace(",", "")  # 1,299.50
    elif "," in token:
        parts = token.split(",")
        if len(parts) == 2 and len(parts[1]) != 3:
            token = token.replace(",", ".")  # 1,3 (decimal comma)
        else:
            token = token.replace(",", "")  # 1,300 / 1,000,000
    elif token.count(".") > 1:
        token = token.replace(".", "")  # 1.000.000
    return float(token)


def _fmt(value: float) -> str:
    """Show a number without a needless ".0"."""
    return f"{value:g}" if abs(value) < 1e15 else str(value)


@lru_cache(maxsize=8192)
def extract_quantities(text: str) -> tuple[Quantity, ...]:
    """Return every number in text as a Quantity: dates, clock times, amounts with units, bare numbers."""
    lowered = text.lower()
    tokens = text_tokens(lowered)
    digits = DIGIT_RE.search(lowered) is not None
    if not digits and tokens.isdisjoint(EN_NUMBER_TOKENS) and tokens.isdisjoint(OTHER_NUMBER_TOKENS):
        if tokens.isdisjoint(FRACTION_TOKENS) and (
            tokens.isdisjoint(ARTICLE_TOKENS) or tokens.isdisjoint(DURATION_TOKENS)
        ):
            return ()
    if "–" in lowered or "—" in lowered or "\u00a0" in lowered:
        lowered = lowered.replace("–", "-").replace("—", "-").replace("\u00a0", " ")
    lowered = spell_out_numbers(lowered, tokens)
    found: list[Quantity] = []
    lowered = _dates(lowered, found, tokens)
    if ":" in lowered or _may_hold_clock(lowered) and CLOCK_HINT_RE.search(lowered):
        lowered = _clock(lowered, found)
    for m in _quantity_matches(lowered):
        start = m.start()
        if start and (lowered[start - 1].isalpha() or lowered[start - 1] in "_.,"):
            continue  # "v2", "x86", the tail of "1.2.3"
        prefix, written_from = _currency_before(lowered, start)
        # What a match yields depends only on its text, its currency and the text that currency spans (see
        # _MatchMemo), so a figure written the same way again ("30 days", "$49") is looked up, not worked out.
        found.extend(_MATCHES[m.group(), prefix, lowered[written_from:start]])
    return tuple(found)


# ASCII digits → b"0", every other byte → b" ": where a QUANTITY_RE match can start, found by bytes.find (memchr).
_DIGIT_MARKS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))


def _quantity_matches(lowered: str) -> Iterable[re.Match[str]]:
    """QUANTITY_RE.finditer(lowered). For ASCII text the matches are taken at its digits: every match opens on a
    digit (group 1), one exists at every digit (all after group 1 is optional) and the pattern has no lookaround or
    anchor, so finditer's search from the last match's end matches at the first digit at or after it, as match()
    there does; bytes.find skips to that digit for less than re's scan (a third of a ~800-character document's)."""
    if not lowered.isascii():
        return QUANTITY_RE.finditer(lowered)
    marks = lowered.encode("ascii").translate(_DIGIT_MARKS)
    found = []
    at = marks.find(b"0")
    while at != -1:
        match = QUANTITY_RE.match(lowered, at)
        if match is None:  # cannot happen (a digit opens a match); kept as a loud guard
            raise ValueError(f"QUANTITY_RE does not match at digit {at} of {lowered!r}")
        found.append(match)
        at = marks.find(b"0", match.end())
    return found


class _MatchMemo(dict):
    """(a QUANTITY_RE match's text, the currency written before it, the text from that currency to the match) →
    its Quantities. QUANTITY_RE has no lookaround, anchor or backreference, so the engine takes the same path
    (groups and spans) through the same matched text wherever it stands; with the currency and the text it spans,
    that is all _match_quantities reads."""

    def __missing__(self, key: tuple[str, str | None, str]) -> tuple[Quantity, ...]:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        value = self[key] = _match_quantities(*key)
        return value


_MEMO_LIMIT = 50_000


def _match_quantities(matched: str, prefix: str | None, before: str) -> tuple[Quantity, ...]:
    """The Quantities of one QUANTITY_RE match (matched: its text; before: the currency's text ahead of it)."""
    m = QUANTITY_RE.match(matched)
    if m is None or m.end() != len(matched):  # cannot happen (see _MatchMemo); kept as a loud guard
        raise ValueError(f"QUANTITY_RE does not rematch {matched!r}")
    lowered = before + matched  # offsets below are relative to this text
    shift = len(before)
    found: list[Quantity] = []
    first, second, word, word2, word3 = m.groups()
    written_from = 0
    group = 3  # the group holding the unit's first word
    if word in UNIT_MODIFIERS:
        word, word2, group = word2, word3, 4
    unit, unit_end = None, m.end(1) if second is None else m.end(2)
    if word and word2 and f"{word} {word2}" in UNITS:
        unit, unit_end = f"{word} {word2}", m.end(group + 1)
    elif word in UNITS or word in CURRENCIES:
        unit, unit_end = word, m.end(group)
    dim, factor, shown = "", 1.0, ""
    if unit is None and word and word.isalpha() and word not in STOPWORDS and len(word) > 2:
        dim = "count:" + stem(word)  # "12 characters": a count of something, checked against that thing
    if unit in CURRENCIES or prefix:
        dim, shown = "currency:" + CURRENCIES.get(prefix or unit or "", "?"), (prefix or unit or "")
    elif unit:
        dim, factor = UNITS[unit]
        shown = unit
    # The digits and unit as they stand, for a verbatim look-up in a document; not for ranges or modifiers.
    written = lowered[written_from : unit_end + shift] if second is None and group == 3 else ""
    for token in (first, second):
        if token is None:
            continue
        raw = float(token) if token.isdigit() else parse_number(token)  # plain digits: what parse_number does
        if dim.startswith("currency"):
            label = f"{shown}{token}" if prefix else f"{token} {shown}"
        else:
            label = f"{token}{shown}" if shown == "%" else f"{token} {shown}".strip()
        if dim.startswith("count:"):
            label = f"{token} {word}"
        found.append(Quantity(raw * factor, raw, dim, label, written))
    return tuple(found)


PREFIX_CURRENCY_RE = re.compile(rf"(?:{_PREFIX_CUR})\s?\Z")
# The last characters of the prefix currencies: a number with none of them before it (past one space) has none.
PREFIX_CURRENCY_ENDS = frozenset("$d€r£p¥f")


def _currency_before(text: str, start: int) -> tuple[str | None, int]:
    """The currency sign or code written just before a number ("$49", "USD 49"), if any, and where it starts."""
    if not start:
        return None, start
    before = text[start - 1]
    if before.isspace():  # the \s? of the pattern: the currency ends one character earlier
        if start < 2 or text[start - 2] not in PREFIX_CURRENCY_ENDS:
            return None, start
    elif before not in PREFIX_CURRENCY_ENDS:
        return None, start
    found = PREFIX_CURRENCY_RE.search(text, max(0, start - 4), start)
    if found is None:
        return None, start
    at = found.start()
    if at and text[at - 1].isalpha():
        return None, start  # "deur 5" is not EUR
    return found.group().strip(), at


def _clock(text: str, found: list[Quantity]) -> str:
    """Collect clock times ("9am", "5:30 p.m.", "17:00") as minutes after midnight; blank them."""

    def collect(m: re.Match[str]) -> str:
        if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in ".:,"):
            return m.group()
        if m.group(1):
            hour, minute = int(m.group(1)) % 12, int(m.group(2) or 0)
            hour += 12 if m.group(3) == "p" else 0
        else:
            hour, minute = int(m.group(4)), int(m.group(5))
        if hour > 24 or minute > 59:
            return m.group()
        found.append(Quantity(hour * 60 + minute, hour * 60 + minute, "clock", f"{hour:02d}:{minute:02d}", m.group()))
        return " " * len(m.group())

    return CLOCK_RE.sub(collect, text)


# --- matching ---------------------------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def quantity_found(claim: Quantity, source: tuple[Quantity, ...]) -> bool:
    """Whether the source states claim: same dimension and amount, or the bare number where the source has no
    amount of that dimension at all ("14 hours" against "battery life (hours): 14")."""
    if not claim.dim:
        return any(_close(claim.raw, q.raw) for q in source)
    same_dim = False
    for q in source:
        if q.dim == claim.dim:
            if _close(q.value, claim.value):
                return True
            same_dim = True
        elif claim.dim in ("month", "monthday") and q.dim == "date":
            if (
                int(q.value) // 100 == int(claim.value)
                if claim.dim == "month"
                else int(q.value) % 10000 == int(claim.value)
            ):
                return True
            same_dim = True  # the source has a date, and it is another one
    if same_dim:
        return False
    if claim.dim.startswith("count:"):  # "4 ports" against "four gigabit ports": counts of unnamed things match
        return any((not q.dim or q.dim.startswith("count:")) and _close(q.raw, claim.raw) for q in source)
    return any(not q.dim and _close(q.raw, claim.raw) for q in source)


def counterpart(claim: Quantity, source: tuple[Quantity, ...]) -> Quantity | None:
    """The source's amount of the same dimension (what the source says instead), if any."""
    related = {"month": "date", "monthday": "date"}.get(claim.dim)
    for q in source:
        if q.dim and (q.dim == claim.dim or q.dim == related):
            return q
    return None


_MATCHES = _MatchMemo()
