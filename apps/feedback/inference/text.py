"""Lexical reading of a user's message: normalization, a light stemmer, stop words, number and quote slots,
a small paraphrase lexicon of common support intents, and greeting/closing detection.

Pure Python, no Django: the rephrase detector's fallback when no embeddings endpoint is configured or it fails.
Its limits are those of a word list: English only, support-style intents only, and paraphrases whose words the
lexicon does not know ("it closes by itself" for "it crashes") are missed. The README gives the measured figures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = [
    "Reading",
    "input_key",
    "is_closing",
    "is_small_talk",
    "lexical_similarity",
    "read",
    "stem",
]

# ---------------------------------------------------------------- normalization

_CONTRACTIONS: Final[tuple[tuple[str, str], ...]] = (
    (r"\bcan't\b", "can not"),
    (r"\bcannot\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"'m\b", " am"),
    (r"'s\b", ""),
)


def _fold(text: str) -> str:
    """Return text case-folded, NFKC-normalized, with typographic quotes made plain."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"}))


def input_key(text: str) -> str:
    """Return the form two inputs must share to count as the same input: case, spacing and end punctuation ignored."""
    folded = _fold(text)
    return re.sub(r"\s+", " ", folded).strip().rstrip(".!?;:…").strip()


# ---------------------------------------------------------------- stemming


def stem(word: str) -> str:
    """Return a light English stem (plural, -ing, -ed, -ly, final e); both sides of a comparison use the same one."""
    if word.startswith("c_") or len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in (
        ("ies", "y"),
        ("ied", "y"),
        ("ings", ""),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            if suffix == "es" and not word.endswith(("sses", "shes", "ches", "xes", "zes", "ces", "ses")):
                word = word[:-1]  # "closes" -> "close": only the s is a suffix
            else:
                word = word[: len(word) - len(suffix)] + replacement
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "shipp" -> "ship", "stopp" -> "stop"
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # "close"/"closed" -> "clos", "charge"/"charged" -> "charg"
    return word


# ---------------------------------------------------------------- stop words and small talk

STOP_WORDS: Final[frozenset[str]] = frozenset(
    """a about above after again all am an and any anyone anything are as at be been being but by can could did do does
    doing done for from had has have having he her here hers him his how i if in into is it its itself just let me
    mine more most my myself no nor not of on once only or other our ours out over own please pls plz same she should
    so some such than that the their theirs them then there these they this those through to too under until up us
    very was we were what whats when where which while who whom why will with would you your yours yourself yet
    still really actually also just kindly hi hello hey want wanted wanting need needs needed like get got
    getting gets see know tell give show able way possible something thing things do does did there's im ive
    today now currently right exactly""".split()
)
# Verbs and nouns that carry little meaning in a support request ("can you help me with ...").
SMALL_TALK_WORDS: Final[frozenset[str]] = frozenset(
    """hi hello hey heya hiya yo howdy greetings morning afternoon evening good day there thanks thank thx ty cheers
    ok okay k cool great nice awesome perfect sure alright fine bye goodbye cya later see you soon help assist
    question questions something quick how are doing well bot human robot anyone there need some have i a can you me
    with am is it that this got worked works working solved appreciate appreciated much lot so very all sorted done
    yes yep yeah no nope np :) :( please good""".split()
)
CLOSING_WORDS: Final[frozenset[str]] = frozenset(
    """thanks thank thx ty cheers ok okay cool great nice awesome perfect bye goodbye cya later see you soon that it
    worked works working solved appreciate appreciated much lot so very all sorted done got helpful helped good
    brilliant excellent fine alright yes yep yeah this was is""".split()
)
_CLOSING_CORE: Final[frozenset[str]] = frozenset(
    "thanks thank thx ty cheers bye goodbye cya worked solved sorted appreciate appreciated helpful helped".split()
)

# ---------------------------------------------------------------- the paraphrase lexicon

# Multi-word phrases first (matched on folded text, longest first), then single words (matched on stems).
# Each maps to a concept token; two messages that name the same concept in other words then share it.
PHRASES: Final[dict[str, str]] = {
    "two-factor authentication": "c_2fa",
    "two factor authentication": "c_2fa",
    "two-factor": "c_2fa",
    "two factor": "c_2fa",
    "multi-factor": "c_2fa",
    "money back": "c_refund",
    "pay me back": "c_refund",
    "charge back": "c_refund",
    "send back": "c_return",
    "send items back": "c_return",
    "send it back": "c_return",
    "bring back": "c_return",
    "log in": "c_login",
    "log into": "c_login",
    "sign in": "c_login",
    "sign into": "c_login",
    "get back into": "c_login",
    "get into my account": "c_login",
    "access my account": "c_login",
    "turn on": "c_enable",
    "switch on": "c_enable",
    "set up": "c_enable",
    "turn off": "c_disable",
    "switch off": "c_disable",
    "how much": "c_price",
    "how long": "c_when",
    "what time": "c_when",
    "when will": "c_when",
    "closes by itself": "c_crash",
    "shuts down": "c_crash",
    "keeps closing": "c_crash",
    "where is my": "c_track c_order",
    "where are my": "c_track c_order",
    "where's my": "c_track c_order",
    "not arrived": "c_track",
    "not received": "c_track",
    "not come": "c_track",
    "have not got": "c_track",
    "opening hours": "c_hours",
    "business hours": "c_hours",
    "are you open": "c_hours",
    "you open": "c_hours",
    "real person": "c_human",
    "real support": "c_human",
    "live agent": "c_human",
    "customer service": "c_human",
    "support agent": "c_human",
    "move to a higher": "c_upgrade",
    "higher tier": "c_upgrade c_plan",
    "bigger plan": "c_upgrade c_plan",
    "go up a": "c_upgrade",
    "not working": "c_broken",
    "does not work": "c_broken",
    "do not work": "c_broken",
    "is not working": "c_broken",
    "not being accepted": "c_broken",
    "not accepted": "c_broken",
    "will not load": "c_broken c_load",
    "not opening": "c_broken c_load",
    "not loading": "c_broken c_load",
    "everything i have stored": "c_data",
    "everything i stored": "c_data",
    "all my data": "c_data",
    "short summary": "c_summary",
    "the gist": "c_summary",
    "tl;dr": "c_summary",
    "say this in": "c_translate",
    "say it in": "c_translate",
    "how would you say": "c_translate",
    "cheaper pricing": "c_discount",
    "cheaper price": "c_discount",
    "stop sending": "c_unsubscribe",
    "opt out": "c_unsubscribe",
    "being charged every month": "c_subscription c_billing",
    "renewing": "c_subscription",
    "auto-renew": "c_subscription",
    "every month": "c_subscription",
    "different address": "c_change c_address",
    "api key": "c_apikey",
    "api token": "c_apikey",
    "access token": "c_apikey",
}

# Single words (stemmed at import) to concepts: common support vocabulary, written alongside the labelled set's
# tuning split (its held-out split was written afterwards and never tuned on; the README gives both figures).
WORDS: Final[dict[str, tuple[str, ...]]] = {
    "c_cancel": ("cancel", "cancellation", "stop", "end", "terminate", "quit", "discontinue", "halt"),
    "c_subscription": ("subscription", "subscribe", "membership", "renewal", "renew", "recurring"),
    "c_plan": ("plan", "tier", "edition", "level"),
    "c_premium": ("pro", "premium", "plus", "professional", "paid"),
    "c_refund": ("refund", "reimburse", "reimbursement", "chargeback", "compensation"),
    "c_return": ("return", "returns", "exchange"),
    "c_billing": ("charge", "charged", "bill", "billed", "billing", "payment", "pay", "invoice", "debit"),
    "c_password": ("password", "passcode", "pwd", "pin", "passphrase", "credentials"),
    "c_reset": ("reset", "forgot", "forget", "forgotten", "recover", "recovery", "restore", "lost"),
    "c_login": ("login", "signin", "logon", "authenticate"),
    "c_account": ("account", "profile"),
    "c_delete": ("delete", "remove", "erase", "deactivate", "wipe", "purge"),
    "c_permanent": ("permanent", "permanently", "forever", "completely"),
    "c_human": ("human", "person", "agent", "representative", "rep", "operator", "staff", "someone"),
    "c_connect": ("talk", "speak", "connect", "transfer", "contact", "reach"),
    "c_price": ("price", "cost", "costs", "pricing", "fee", "fees", "rate"),
    "c_change": ("change", "update", "modify", "edit", "alter", "switch", "replace", "different", "new"),
    "c_email": ("email", "e-mail", "mail", "emails", "newsletter", "newsletters", "mailing"),
    "c_unsubscribe": ("unsubscribe", "optout"),
    "c_crash": ("crash", "crashes", "crashing", "freeze", "freezes", "hang", "hangs"),
    "c_broken": ("broken", "fail", "fails", "failing", "error", "bug", "invalid", "rejected", "declined", "issue"),
    "c_load": ("load", "loading", "open", "opening", "launch", "start"),
    "c_app": ("app", "application", "website", "site", "page", "web", "webpage", "portal"),
    "c_2fa": ("2fa", "mfa", "otp", "authenticator"),
    "c_enable": ("enable", "activate"),
    "c_disable": ("disable",),
    "c_hours": ("hours", "open"),
    "c_ship": ("ship", "shipping", "shipped", "delivery", "deliver", "delivered", "deliveries", "courier", "post"),
    "c_order": ("order", "orders", "package", "parcel", "shipment", "purchase", "item", "items"),
    "c_track": ("track", "tracking", "arrive", "arrived", "arrival", "late", "delayed"),
    "c_address": ("address", "addresses", "location"),
    "c_discount": ("discount", "coupon", "promo", "voucher", "code", "deal", "offer", "cheaper"),
    "c_student": ("student", "students", "university", "college"),
    "c_data": ("data", "information", "info", "files", "records", "history"),
    "c_export": ("export", "download", "backup", "extract"),
    "c_summary": ("summary", "summarize", "summarise", "summarization", "recap", "tldr", "overview", "condense"),
    "c_text": ("article", "text", "document", "passage", "essay"),
    "c_translate": ("translate", "translation"),
    "c_upgrade": ("upgrade", "higher", "bigger", "larger"),
    "c_downgrade": ("downgrade", "lower", "smaller"),
    "c_locked": ("locked", "lock", "blocked", "block", "suspended", "banned", "disabled", "frozen"),
    "c_meeting": ("meeting", "call", "appointment", "meet"),
    "c_schedule": ("schedule", "book", "arrange", "organize", "organise", "reserve", "reservation"),
    "c_business": ("commercial", "business", "company", "enterprise"),
    "c_allowed": ("allowed", "permitted", "use", "usage", "license", "licence"),
    "c_free": ("free", "gratis"),
    "c_create": ("create", "generate"),
    "c_apikey": ("apikey", "token"),
    "c_screen": ("screen", "display"),
    "c_mean": ("mean", "meaning", "means"),
    "c_duplicate": ("twice", "duplicate", "double"),
}

_WORD_CONCEPT: dict[str, str] = {}
for _concept, _words in WORDS.items():
    for _word in _words:
        _WORD_CONCEPT.setdefault(stem(_word.replace("_", "")), _concept)

# Nouns and verbs that occur in almost every request; they count for little in a comparison.
WEAK_WORDS: Final[frozenset[str]] = frozenset(
    stem(w)
    for w in """help make do use try find work keep say ask put send take go come look happen card time every way
    one person problem issue""".split()
)

_PHRASE_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")(?![\w-])"
)
_NUMBER_WORDS: Final[dict[str, str]] = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"twice": "2", "once": "1", "dozen": "12", "thrice": "3"})
_QUOTED_RE = re.compile(r"'([^']{1,80})'|\"([^\"]{1,80})\"")
# Words are Unicode letters and digits ("cómo", "подписка"): the lexicon is English, but other languages still
# compare word for word instead of falling apart at the first accent.
_TOKEN_RE = re.compile(r"c_[a-z0-9]+|#?\d+(?:[.,:]\d+)*%?(?![^\W\d_])|[^\W_]+(?:-[^\W_]+)*")

# What the user says when their last question was misunderstood: a restatement follows.
REPHRASE_MARKERS: Final[re.Pattern[str]] = re.compile(
    r"\b(i mean|i meant|what i mean|what i meant|not what i (?:asked|meant|wanted|said)|in other words|"
    r"let me rephrase|to rephrase|rephrasing|you did not (?:answer|understand|get)|you misunderstood|"
    r"that is not what|i asked|i said|my question (?:is|was)|to be clear|to clarify|"
    r"you are not answering|answer my question)\b"
)
# Openings of a follow-up on a new aspect ("and ...", "what about ...", "now make it ...").
FOLLOW_UP_OPENINGS: Final[re.Pattern[str]] = re.compile(
    r"^(?:(?:ok(?:ay)?|thanks|thank you|great|cool|perfect|nice|alright)[,.! ]+)*"
    r"(and|also|plus|besides|additionally|btw|by the way|what about|how about|what if|now|then|next|"
    r"one more|another|another thing|after that|in that case|and then|what else|as well)\b"
)
# Words that point back at the previous turn's subject: the new message builds on the answer.
ANAPHORA: Final[frozenset[str]] = frozenset({"it", "its", "there", "them", "they", "that", "those", "this"})


@dataclass(frozen=True)
class Reading:
    """What the lexical comparison needs of one message."""

    text: str
    tokens: tuple[str, ...]  # content tokens in order: stems, concepts, number and quote slots
    numbers: tuple[str, ...]
    quotes: tuple[str, ...]
    words: tuple[str, ...]  # all folded words, stop words included (for markers and anaphora)
    small_talk: bool
    closing: bool
    has_rephrase_marker: bool
    has_follow_up_opening: bool

    @property
    def content(self) -> frozenset[str]:
        """Return the set of content tokens without slot values."""
        return frozenset(t for t in self.tokens if not t.startswith(("#", "q:")))


@lru_cache(maxsize=4096)
def read(text: str) -> Reading:
    """Return the lexical reading of one message."""
    folded = _fold(text)
    quotes = tuple(next(g for g in m.groups() if g is not None).strip() for m in _QUOTED_RE.finditer(folded))
    unquoted = _QUOTED_RE.sub(" qqslot ", folded)
    for pattern, replacement in _CONTRACTIONS:
        unquoted = re.sub(pattern, replacement, unquoted)
    plain = re.sub(r"\s+", " ", unquoted).strip()
    words = tuple(re.findall(r"[^\W_]+", plain))
    marker = bool(REPHRASE_MARKERS.search(plain))
    follow_up = bool(FOLLOW_UP_OPENINGS.match(re.sub(r"^[\W_]+", "", plain)))
    substituted = _PHRASE_RE.sub(lambda m: f" {PHRASES[m.group(1)]} ", plain)
    tokens: list[str] = []
    numbers: list[str] = []
    quote_iter = iter(quotes)
    for raw in _TOKEN_RE.findall(substituted):
        if raw == "qqslot":
            value = next(quote_iter, "")
            tokens.append("q:" + value)
            continue
        if raw in _NUMBER_WORDS:
            raw = _NUMBER_WORDS[raw]
        if (raw[0].isdigit() or raw[0] == "#") and not any(c.isalpha() for c in raw):
            number = raw.lstrip("#").rstrip("%").replace(",", ".")
            numbers.append(number)
            tokens.append("#" + number)
            continue
        if raw.startswith("c_"):
            tokens.append(raw)
            continue
        if raw in STOP_WORDS:
            continue
        stemmed = stem(raw.replace("-", ""))
        tokens.append(_WORD_CONCEPT.get(stemmed) or _fuzzy_concept(stemmed) or stemmed)
    content_words = [w for w in words if w not in SMALL_TALK_WORDS]
    small_talk = bool(words) and not content_words and not numbers and not quotes
    closing = bool(words) and all(w in CLOSING_WORDS for w in words) and any(w in _CLOSING_CORE for w in words)
    return Reading(
        text=text,
        tokens=tuple(dict.fromkeys(tokens)),
        numbers=tuple(numbers),
        quotes=quotes,
        words=words,
        small_talk=small_talk,
        closing=closing,
        has_rephrase_marker=marker,
        has_follow_up_opening=follow_up,
    )


def _edit_distance(a: str, b: str) -> int:
    """Return the Damerau-Levenshtein distance of two short words (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


@lru_cache(maxsize=4096)
def _fuzzy_concept(word: str) -> str | None:
    """Return the concept of a lexicon word one typo away from word (words of 5+ letters), else None."""
    if len(word) < 5 or not word.isalpha():
        return None
    for known, concept in _WORD_CONCEPT.items():
        if len(known) >= 5 and abs(len(known) - len(word)) <= 1 and _edit_distance(word, known) <= 1:
            return concept
    return None


def is_small_talk(text: str) -> bool:
    """Return whether a message is only a greeting, thanks or a request for help with no subject."""
    return read(text).small_talk


def is_closing(text: str) -> bool:
    """Return whether a message ends the conversation satisfied ("thanks, that worked", "ok bye")."""
    return read(text).closing


def _weight(token: str) -> float:
    if token.startswith("c_"):
        return 1.0
    if token in WEAK_WORDS:
        return 0.3
    return 1.0


def _weighted(tokens: Iterable[str]) -> float:
    return sum(_weight(t) for t in tokens)


def lexical_similarity(a: Reading, b: Reading) -> float:
    """Return the weighted Dice overlap (0..1) of two readings' content tokens."""
    left, right = a.content, b.content
    total = _weighted(left) + _weighted(right)
    if total == 0:
        return 0.0
    return 2 * _weighted(left & right) / total
