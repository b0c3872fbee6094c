"""A compact language guess for short answers: Unicode scripts first, then function words for Latin text.

The refusal check needs one question answered on every trace, cheaply: is this answer in a language its
patterns cover? Library detectors (lingua, fastText, langid) answer far more, but cost milliseconds and
megabytes of models per process; the throughput budget of the default set is ~0.5 ms per trace for all
checks together. So, in two steps over the first few hundred characters:
1. Count letters per script. Kana means Japanese, Hangul Korean, Han without kana Chinese; Cyrillic, Arabic,
   Devanagari, Thai and the rest are named by script (and, for Cyrillic, by a telling letter).
2. For Latin letters, count function words ("the", "und", "que", "het", "się", "ve") per language; the
   language with most hits wins. No hit at all is "und" (undetermined): too little evidence to call it
   foreign, so the caller treats it as a language it knows rather than flag every terse answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# The languages the refusal patterns cover.
SUPPORTED = frozenset({"en", "es", "fr", "de", "pt", "it", "nl", "ja", "zh", "ko"})
NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "it": "Italian",
    "nl": "Dutch", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "pl": "Polish", "tr": "Turkish",
    "sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "cs": "Czech", "ro": "Romanian",
    "hu": "Hungarian", "id": "Indonesian/Malay", "vi": "Vietnamese", "sw": "Swahili", "tl": "Tagalog",
    "ru": "Russian", "uk": "Ukrainian", "cyrillic": "a Cyrillic-script language", "ar": "Arabic",
    "he": "Hebrew", "el": "Greek", "hi": "Hindi", "th": "Thai", "bn": "Bengali", "ta": "Tamil",
    "fa": "Persian", "und": "undetermined",
}  # fmt: skip
SAMPLE_CHARS = 400  # enough letters to decide; the opening is what the refusal check reads anyway
MIN_LETTERS = 12  # below this a guess is noise ("OK", "42 €")

# Function words: frequent, short, and rare in the other listed languages. Words shared by several languages
# ("a", "de", "en", "la", "no", "se") are left out so they cannot tip a short text the wrong way.
FUNCTION_WORDS: dict[str, str] = {
    "en": "the and you your is are was this that with for have has not can will would please here there "
    "what which it's i'm don't can't we our they their be been of to a in on at by or as an if so my me do it",
    "es": "el los las del que es está están por para con una pero puedo puede usted tu más como muy también "
    "esto eso hay ser lo siento gracias sí ayudarte",
    "fr": "le les des est et je vous nous une pas pour avec dans sur que qui cette mais peux être il elle "
    "votre vos ce ces c'est désolé",
    "de": "der die das und ist ich sie nicht mit für ein eine einen dem den zu auf ihnen kann bitte auch "
    "oder wir es leider",
    "pt": "não você os as um uma para com é está são isso isto mas posso pode seu sua também ao do da dos "
    "das obrigado desculpe",
    "it": "il che è non per una sono gli della di mi posso può questo questa anche ma ti lei ho dispiace "
    "purtroppo grazie",
    "nl": "het een niet ik je u is dat van op voor met zijn maar kan wij ook dit deze er helaas bedankt graag",
    # The languages the patterns do not cover name themselves only with words that no covered language uses
    # ("a", "on", "na", "je", "este" would turn English, Portuguese, French or Spanish text foreign).
    "pl": "nie jest się że jak mogę może przepraszam czy jestem",
    "tr": "bir ve bu için ile değil ama çok daha yardımcı olamam maalesef üzgünüm",
    "sv": "och att är inte jag det för på tyvärr ursäkta hjälpa",
    "da": "og ikke jeg det på desværre undskyld hjælpe",
    "no": "og ikke jeg det på dessverre beklager hjelpe",
    "fi": "ei että voi olen kanssa mutta valitettavasti pahoittelen auttaa",
    "cs": "že jsem nemohu bohužel omlouvám pomoci",
    "ro": "și că pentru sunt îmi această rău",
    "hu": "és egy hogy sajnos tudok segíteni ezzel",
    "id": "yang tidak saya ini itu dengan untuk ada bisa maaf membantu anda",
    "vi": "và không tôi của có được này cho với xin lỗi giúp bạn",
    "sw": "kwa siwezi samahani kusaidia hilo hii",
    "tl": "ang ng mga hindi ako po paumanhin makakatulong",
}
_WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words in FUNCTION_WORDS.items():
    for _word in _words.split():
        _WORD_LANGS[_word] = (*_WORD_LANGS.get(_word, ()), _lang)

# The function words that count for some language the patterns do not cover.
_UNCOVERED_WORDS = frozenset(word for word, langs in _WORD_LANGS.items() if not SUPPORTED.issuperset(langs))

# Letters that only some Latin-script languages write; each hit counts like a function word.
TELLING_LETTERS = {
    "ą": "pl", "ę": "pl", "ł": "pl", "ś": "pl", "ż": "pl", "ź": "pl", "ń": "pl", "ğ": "tr", "ı": "tr",
    "ş": "tr", "ő": "hu", "ű": "hu", "ř": "cs", "ů": "cs", "ě": "cs", "ț": "ro", "ș": "ro", "ă": "ro",
    "ơ": "vi", "ư": "vi", "đ": "vi", "ạ": "vi", "ả": "vi", "ấ": "vi", "ề": "vi", "ộ": "vi", "ữ": "vi",
    "ß": "de", "ñ": "es", "ã": "pt", "õ": "pt", "ø": "no", "å": "sv",
}  # fmt: skip


TELLING_RE = re.compile("[" + "".join(TELLING_LETTERS) + "]")
# A letter outside Basic Latin, Latin-1, Latin Extended-A/B and IPA: another script is present.
NON_LATIN_LETTER_RE = re.compile(r"[^\W\d_\x00-\u024f\u1e00-\u1eff]")
PUNCTUATION = ".,;:!?¡¿()[]{}\"'«»“”‘’…-–—*_/"
MAX_WORDS = 40  # function words are frequent: 40 words decide as well as the whole text


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """A language code (ISO 639-1, a script name, or "und") and whether the refusal patterns cover it."""

    code: str

    @property
    def supported(self) -> bool:
        return self.code in SUPPORTED or self.code == "und"

    @property
    def name(self) -> str:
        return NAMES.get(self.code, self.code)


def detect_language(text: str) -> LanguageGuess:
    """Guess the language of text (its first SAMPLE_CHARS characters); "und" when there is too little to go on."""
    sample = text[:SAMPLE_CHARS]
    if sample.isascii() or not NON_LATIN_LETTER_RE.search(sample):
        # Latin letters only (the common case): no per-character script count needed.
        return LanguageGuess(_latin_language(sample.lower()) if len(sample) >= MIN_LETTERS else "und")
    scripts: dict[str, int] = {}
    letters = 0
    for char in sample:
        if char.isalpha():
            letters += 1
            script = "latin" if char < "\u0250" else _script(char)
            scripts[script] = scripts.get(script, 0) + 1
    if letters < MIN_LETTERS and not (scripts.get("han", 0) + scripts.get("kana", 0) + scripts.get("hangul", 0)):
        return LanguageGuess("und")
    if scripts.get("kana"):
        return LanguageGuess("ja")  # kana appear in any Japanese sentence, never in Chinese
    top = max(scripts, key=scripts.__getitem__)
    if top == "latin":
        return LanguageGuess(_latin_language(sample.lower()))
    if top == "hangul":
        return LanguageGuess("ko")
    if top == "han":
        return LanguageGuess("zh")
    if top == "cyrillic":
        return LanguageGuess(_cyrillic_language(sample.lower()))
    return LanguageGuess(top)


def surely_supported(text: str) -> bool:
    """True only when detect_language(text).supported is: ASCII text whose first MAX_WORDS words (as _latin_language
    reads them) hold no function word of a language the patterns do not cover, so every hit is a covered language's
    and the guess is one of them or "und" (False: ask detect_language). One set test instead of the per-word count."""
    sample = text[:SAMPLE_CHARS]
    if not sample.isascii():
        return False
    tokens = sample.lower().split(None, MAX_WORDS)[:MAX_WORDS]
    return _UNCOVERED_WORDS.isdisjoint([token.strip(PUNCTUATION) for token in tokens])


def _latin_language(lowered: str) -> str:
    """Return the Latin-script language with the most function-word and telling-letter hits ("und" for none)."""
    hits: dict[str, int] = {}
    # Whitespace tokens with their punctuation stripped: several times faster than a Unicode word regex.
    for token in lowered.split(None, MAX_WORDS)[:MAX_WORDS]:
        for lang in _WORD_LANGS.get(token.strip(PUNCTUATION), ()):
            hits[lang] = hits.get(lang, 0) + 1
    if not lowered.isascii():
        for char in TELLING_RE.findall(lowered):
            lang = TELLING_LETTERS[char]
            hits[lang] = hits.get(lang, 0) + 1
    if not hits:
        return "und"
    best = max(hits.values())
    # A tie between a covered language and another resolves to the covered one: missing a foreign text costs
    # less here than flagging a German answer as Danish.
    tied = [lang for lang, count in hits.items() if count == best]
    return next((lang for lang in tied if lang in SUPPORTED), tied[0])


def _cyrillic_language(lowered: str) -> str:
    if any(char in lowered for char in "іїєґ"):
        return "uk"
    if any(char in lowered for char in "ыэъё"):
        return "ru"
    return "cyrillic"


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    """Return the script of a letter from its Unicode name ("CYRILLIC SMALL LETTER A" → "cyrillic")."""
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "kana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
        return "han"
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return {
        "LATIN": "latin", "CYRILLIC": "cyrillic", "ARABIC": "ar", "HEBREW": "he", "GREEK": "el",
        "DEVANAGARI": "hi", "THAI": "th", "BENGALI": "bn", "TAMIL": "ta", "CJK": "han", "HANGUL": "hangul",
        "HIRAGANA": "kana", "KATAKANA": "kana",
    }.get(first, first.lower() or "other")  # fmt: skip
