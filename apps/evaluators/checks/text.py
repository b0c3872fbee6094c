"""Cheap text helpers shared by the checks: masking, sentence splitting, word and number tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Fenced code blocks (closed, or running to the end of the text) and inline code spans.
CODE_RE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]+`", re.S)
# Quoted passages: double quotes, typographic quotes, guillemets, and single quotes that open after
# a non-word character (so the apostrophes in "I'm" and "can't" never start or end a quote).
QUOTE_RE = re.compile(
    # Every branch starts with a literal so the engine can skip ahead; the lookbehind after the single quote
    # rejects apostrophes ("I'm", "can't").
    r"\"[^\"\n]{2,400}\"|“[^”\n]{2,400}”|«[^»\n]{2,400}»|„[^“”\n]{2,400}[“”]|'(?<!\w')[^'\n]{2,400}?'(?!\w)"
)
BLOCKQUOTE_RE = re.compile(r"^[ \t]*>.*$", re.M)
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
WHITESPACE_RE = re.compile(r"\s+")


# ASCII punctuation → space, so str.split() yields the words and digit runs (the apostrophe splits too).
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
PUNCTUATION_TO_SPACE = str.maketrans(dict.fromkeys(PUNCTUATION, " "))
# The same table for bytes: bytes.translate is a 256-entry lookup, several times cheaper than str.translate.
_PUNCTUATION_TO_SPACE_BYTES = bytes(32 if chr(c) in PUNCTUATION else c for c in range(256))


def punctuation_split(lowered: str) -> list[str]:
    """The words and digit runs of (lowercased) text once ASCII punctuation is blanked."""
    if lowered.isascii():
        return lowered.encode("ascii").translate(_PUNCTUATION_TO_SPACE_BYTES).decode("ascii").split()
    return lowered.translate(PUNCTUATION_TO_SPACE).split()


def normalise_apostrophes(text: str) -> str:
    """Return text with typographic apostrophes replaced by ASCII ones (same length)."""
    # isascii() is O(1) on CPython strings: ASCII text holds no typographic apostrophe.
    return text if text.isascii() else text.translate(APOSTROPHES)


def mask(text: str, *patterns: re.Pattern[str]) -> str:
    """Return text with every match of patterns replaced by spaces, keeping offsets intact."""
    for pattern in patterns:
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def mask_code(text: str) -> str:
    """Blank out code blocks and inline code, keeping offsets."""
    return mask(text, CODE_RE) if "`" in text or "~~~" in text else text


def mask_quotes(text: str) -> str:
    """Blank out code, quoted passages and blockquote lines, keeping offsets."""
    text = mask_code(text)
    # Each pattern needs its literal ('>' or an opening quote); substring tests skip the regex scans.
    if ">" in text:
        text = mask(text, BLOCKQUOTE_RE)
    if '"' in text or "'" in text or not text.isascii() and ("“" in text or "«" in text or "„" in text):
        text = mask(text, QUOTE_RE)
    return text


def word_count(text: str) -> int:
    """Return the number of words in text."""
    return len(WORD_RE.findall(text))


# --- sentences -----------------------------------------------------------------------------

# Words that end with a period without ending the sentence (lowercased, without the final period).
ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf al approx ca dr mr mrs ms prof sr jr st no nos fig figs vol p pp inc ltd co corp "
    "dept est jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k a.m p.m "
    "min max ref refs sec e.t.a".split()
)
BULLET_RE = re.compile(r"^\s*(?:[-*•+>]+|\d{1,3}[.)]|[a-zA-Z][.)]|#{1,6})\s+")
# A run of sentence-ending punctuation, closing quotes/brackets, then whitespace. Spelt "[…][…]*" rather than
# "[…]+": a pattern opening on a plain character set lets CPython's re skip ahead to candidates (twice as fast).
BOUNDARY_RE = re.compile(r"[.!?…][.!?…]*[\"'”’)\]]*(?=\s)")


@dataclass(slots=True)
class Sentence:
    """One sentence of an answer with its offset in the original text."""

    text: str
    start: int


def split_sentences(text: str, limit: int | None = None) -> list[Sentence]:
    """Split text into sentences (at most limit): lines and bullets first, then end punctuation, minding
    abbreviations and decimals."""
    sentences: list[Sentence] = []
    offset = 0
    for line in text.split("\n"):
        line_start = offset
        offset += len(line) + 1
        bullet = BULLET_RE.match(line)
        start = bullet.end() if bullet else 0
        if not line[start:].strip():
            continue
        for boundary in BOUNDARY_RE.finditer(line, start):
            dot, end = boundary.span()
            if line[dot] == ".":
                # _is_abbreviation, inlined for its common case: an ASCII word of two or more letters that is no
                # abbreviation ends here, so only a lowercase next character keeps the sentence going.
                word = line[line.rfind(" ", 0, dot) + 1 : dot]
                if word.isascii() and word.isalpha() and len(word) > 1 and word.lower() not in ABBREVIATIONS:
                    following = line[end + 1] if end + 1 < len(line) else ""
                    if not following or following.isspace():
                        following = _following(line, end)
                    if following.islower():
                        continue
                elif _is_abbreviation(line, dot, end):
                    continue
            # _append, inlined: this loop runs once per sentence of every answer.
            chunk = line[start:end]
            stripped = chunk.strip()
            if stripped and (stripped[0].isalnum() or WORD_RE.search(stripped)):
                sentences.append(Sentence(stripped, line_start + start + chunk.index(stripped[0])))
            start = end
            if limit is not None and len(sentences) >= limit:
                return sentences[:limit]  # the rest of a long line cannot change the first `limit` sentences
        _append(sentences, line[start:], line_start + start)
        if limit is not None and len(sentences) >= limit:
            return sentences[:limit]
    return sentences


def _is_abbreviation(line: str, dot: int, end: int) -> bool:
    """Return whether the period at `dot` belongs to an abbreviation or an initial."""
    if line[dot] != ".":
        return False
    word = line[line.rfind(" ", 0, dot) + 1 : dot].lower().lstrip("\"'([").rstrip(".")
    if word in ABBREVIATIONS:
        # "etc." and friends may still end a sentence when a capitalised word follows.
        return not (word in {"etc", "al"} and _following(line, end).isupper())
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    return _following(line, end).islower()  # "…see fig. below": a lowercase start rarely begins a sentence


def _following(line: str, end: int) -> str:
    """Return the first non-space character of line at or after end ("" at the end of the line)."""
    # The boundary pattern only matches before whitespace; the next character is usually the next word's first.
    size = len(line)
    nxt = end + 1
    if nxt < size and not line[nxt].isspace():
        return line[nxt]
    while nxt < size and line[nxt].isspace():
        nxt += 1
    return line[nxt] if nxt < size else ""


def _append(sentences: list[Sentence], chunk: str, start: int) -> None:
    """Append a stripped chunk as a sentence when it holds any word."""
    stripped = chunk.strip()
    if stripped and (stripped[0].isalnum() or WORD_RE.search(stripped)):
        sentences.append(Sentence(stripped, start + chunk.index(stripped[0])))


# --- content words and numbers --------------------------------------------------------------

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during
    each either etc few for from further get gets got had hadn't has hasn't have haven't having he he'd he'll
    he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've if in into is isn't
    it it's its itself just let's like may me might more most much must mustn't my myself neither no nor not
    now of off on once one only or other ought our ours ourselves out over own per please same shall shan't she
    she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
    there there's these they they'd they'll they're they've this those though through thus to too under until
    up upon us very via was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    whether which while who who's whom whose why why's will with within without won't would wouldn't yes yet
    you you'd you'll you're you've your yours yourself yourselves also already always just really simply
    typically usually generally st nd rd th""".split()
)
NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15", "twenty": "20",
    "thirty": "30", "hundred": "100",
}  # fmt: skip
NUMBER_WORD_SET = frozenset(NUMBER_WORDS)
# Words, and numbers ("1,299.50", "3.5", "2024"); "$49" and "30%" yield their digits.
WORD_TOKEN_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
ASCII_WORD_TOKEN_RE = re.compile(r"[a-z]+(?:'[a-z]+)*")  # twice as fast; used when the text is ASCII
# The tokens of [0-9]+(?:[.,][0-9]+)*, spelt so CPython's re scans for them about twice as fast.
NUMBER_TOKEN_RE = re.compile(r"[0-9](?:[0-9]|[.,](?=[0-9]))*")
NUMBER_RE = re.compile(r"\d")
VOWEL_RE = re.compile(r"[aeiouy]")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Return a crude stem of a lowercase word, consistent enough to match inflections."""
    if len(word) <= 2:
        return word
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, replacement in (
        ("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ingly", ""), ("edly", ""), ("ings", ""), ("ing", ""),
        ("ations", "at"), ("ation", "at"), ("ly", ""), ("ed", ""), ("s", ""),
    ):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= (3 if suffix == "s" else 2):
            if suffix == "s" and word[-2] in "su'":
                break  # "process", "status", "analysis" keep their s
            if suffix in ("ed", "ing", "ings", "edly", "ingly") and (
                word.endswith("eed") or not VOWEL_RE.search(word, 0, len(word) - len(suffix))
            ):
                continue  # "need", "speed", "bring", "thing" are not inflections
            word = word[: -len(suffix)] + replacement
            if replacement == "" and suffix != "s" and len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "stopped" → "stop", "running" → "run"
            break
    if len(word) > 2 and word.endswith("e"):
        word = word[:-1]  # "use"/"used"/"using" all become "us"
    return word


@lru_cache(maxsize=8192)
def normalise_number(token: str) -> str:
    """Return a canonical spelling of a number token ("1,000" → "1000", "3.50" → "3.5", "05" → "5")."""
    token = token.replace(",", "")
    if "." in token:
        whole, _, frac = token.partition(".")
        frac = frac.replace(".", "").rstrip("0")
        whole = whole.lstrip("0") or "0"
        return f"{whole}.{frac}" if frac else whole
    return token.lstrip("0") or "0"


ASCII_NON_WORD_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if not (97 <= c <= 122 or c == 39)})
# What content_terms drops from ASCII text: stopwords, number words and one-letter tokens (the only short ones).
ASCII_NON_CONTENT = STOPWORDS | NUMBER_WORD_SET | frozenset("abcdefghijklmnopqrstuvwxyz")

# The ASCII path works on bytes: bytes.translate is a plain 256-entry table lookup, several times cheaper than
# str.translate, and splitting and hashing bytes costs no more than str. Tokens stay bytes until stemmed.
# Table 1 lowercases A-Z, keeps a-z and the apostrophe, and blanks everything else (like lower() + translate).
_ASCII_WORD_BYTES = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or c == 39 else 32 for c in range(256))
# Table 2 keeps only what number tokens are made of (digits, '.' and ','); NUMBER_TOKEN_RE never matches across
# anything else, so its matches in each remaining run are its matches in the whole text.
_ASCII_NUMBER_BYTES = bytes(c if 48 <= c <= 57 or c in (44, 46) else 32 for c in range(256))
_ASCII_WORD_TOKEN_BYTES_RE = re.compile(rb"[a-z]+(?:'[a-z]+)*")
_ASCII_NON_CONTENT_BYTES = frozenset(w.encode() for w in ASCII_NON_CONTENT)
_NUMBER_WORD_BYTES = {w.encode(): n for w, n in NUMBER_WORDS.items()}
_NUMBER_WORD_BYTES_SET = frozenset(_NUMBER_WORD_BYTES)
_MEMO_LIMIT = 100_000


class _NumberRunMemo(dict):
    """A run of digits, '.' and ',' (bytes) → the normalised number tokens in it."""

    def __missing__(self, run: bytes) -> tuple[str, ...]:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        value = self[run] = tuple(map(normalise_number, NUMBER_TOKEN_RE.findall(run.decode())))
        return value


class _ContentStemMemo(dict):
    """ASCII token (bytes) → stem(token), or "" for what content_terms drops (no stem is empty): one lookup per
    token instead of a set difference and then a lookup."""

    def __missing__(self, token: bytes) -> str:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        value = self[token] = "" if token in _ASCII_NON_CONTENT_BYTES else stem(token.decode())
        return value


_CONTENT_STEMS = _ContentStemMemo()
NUMBER_WORD_BYTES_SET = _NUMBER_WORD_BYTES_SET  # content_terms' spelt number tokens (bytes), for support.is_claim
_NUMBER_RUNS = _NumberRunMemo()
# For support's word look-ups in a document's text: the same table and memo as content_terms, so the same stems.
ASCII_WORD_BYTES = _ASCII_WORD_BYTES
CONTENT_STEMS = _CONTENT_STEMS


def content_terms(text: str) -> tuple[set[str], set[str]]:
    """Return (stemmed content words, normalised numbers) of text, without stopwords."""
    if text.isascii():
        raw = text.encode("ascii")  # lowercased by the translation table
    else:
        lowered = text.lower()
        if not lowered.isascii():
            return _unicode_content_terms(lowered)
        raw = lowered.encode("ascii")
    # The word tokens of ASCII text are its whitespace-separated runs once every character but a-z and the
    # apostrophe is blanked (translate and split are C loops, far cheaper than a findall); only runs holding an
    # apostrophe need the token pattern ("don't" stays whole, "'quoted'" loses its quotes).
    tokens = set(raw.translate(_ASCII_WORD_BYTES).split())
    if b"'" in raw:
        quoted = {t for t in tokens if b"'" in t}
        tokens -= quoted
        for run in quoted:
            tokens.update(_ASCII_WORD_TOKEN_BYTES_RE.findall(run))
    words = set(map(_CONTENT_STEMS.__getitem__, tokens))
    words.discard("")
    return words, ascii_numbers(raw, tokens)


def ascii_numbers(raw: bytes, tokens: set[bytes]) -> set[str]:
    """The numbers content_terms reads in ASCII text (raw) whose word tokens are tokens: digit runs and spelt
    number words, normalised."""
    numbers: set[str] = set()
    for run in set(raw.translate(_ASCII_NUMBER_BYTES).split()):
        found = _NUMBER_RUNS[run]
        if found:
            numbers.update(found)
    spelled = tokens & _NUMBER_WORD_BYTES_SET
    if spelled:
        numbers.update(_NUMBER_WORD_BYTES[t] for t in spelled)
    return numbers


def ascii_states_number(raw: bytes, number: str) -> bool:
    """Whether ascii_numbers(raw, frozenset()) holds number (a normalised number): its digit runs are looked up one
    by one until one holds it, no set of them built."""
    for run in raw.translate(_ASCII_NUMBER_BYTES).split():
        if number in _NUMBER_RUNS[run]:
            return True
    return False


def _unicode_content_terms(lowered: str) -> tuple[set[str], set[str]]:
    """content_terms of lowercased text with non-ASCII characters: the token patterns."""
    tokens = set(WORD_TOKEN_RE.findall(lowered))
    words = {stem(t) for t in tokens - STOPWORDS - NUMBER_WORD_SET if len(t) > 1}
    numbers = set(map(normalise_number, NUMBER_TOKEN_RE.findall(lowered)))
    spelled = tokens & NUMBER_WORD_SET
    if spelled:
        numbers.update(NUMBER_WORDS[t] for t in spelled)
    return words, numbers
