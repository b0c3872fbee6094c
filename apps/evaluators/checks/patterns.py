"""User regular expressions on RE2: linear time whatever the pattern, over input capped at a set length.

Evaluator patterns (the regex/format checks, `pattern`/`patternProperties` in JSON schemas) come from
tenants and run on shared workers and in the web process (preview). Python's `re` backtracks, so
`(a+)+$` on a long run of a's never ends; RE2 matches in time linear in the input. RE2 has no
backreferences or lookaround: such patterns are refused when the evaluator is saved.

Patterns keep Python's meaning: they are translated before RE2 compiles them. Without the `a` flag
`\\w`, `\\d` and `\\s` are Unicode classes in Python but ASCII in RE2, so they become Unicode property
classes; `\\Z`, `\\uXXXX`, `(?#…)` and verbose mode (`x`) are rewritten into RE2 syntax. One difference
remains: RE2's `\\b` and `\\B` treat only ASCII letters, digits and `_` as word characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import re2
from django.conf import settings

RE2_FLAGS = frozenset("ims")  # the ones RE2 takes inline
PYTHON_FLAGS = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "a": re.ASCII,
}

# Python's Unicode classes of str patterns, spelled out as code point ranges found by Python's own re: RE2's
# \p{...} tables follow a newer Unicode version and would disagree on recently assigned characters.
_SURROGATES = range(0xD800, 0xE000)


def _code_point(index: int) -> int:
    return index if index < _SURROGATES.start else index + len(_SURROGATES)


@lru_cache(maxsize=3)
def _class_ranges(kind: str) -> str:
    r"""The body of an RE2 [...] set matching exactly what Python's \w, \d or \s matches (built once per process)."""
    every_char = "".join(map(chr, range(_SURROGATES.start))) + "".join(map(chr, range(_SURROGATES.stop, 0x110000)))
    parts = []
    for found in re.finditer(f"\\{kind}+", every_char):
        first, last = _code_point(found.start()), _code_point(found.end() - 1)
        parts.append(f"\\x{{{first:x}}}" if first == last else f"\\x{{{first:x}}}-\\x{{{last:x}}}")
    return "".join(parts)


_UPTO_RE = re.compile(r"\{,(\d+)\}")
_INLINE_FLAGS_RE = re.compile(r"\(\?([aiLmsux]+)\)")
_SCOPED_FLAGS_RE = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]+))?:")


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says why, for the form/API error of the field."""


@dataclass(frozen=True, slots=True)
class UserPattern:
    """A compiled user pattern; `search`/`fullmatch` look only at the first REGEX_MAX_INPUT_CHARS characters."""

    source: str
    compiled: re2._Regexp

    def search(self, text: str) -> re2._Match | None:
        """Like re.search over the capped text."""
        return self.compiled.search(cap_input(text))

    def fullmatch(self, text: str) -> re2._Match | None:
        """Like re.fullmatch over the capped text."""
        return self.compiled.fullmatch(cap_input(text))


def cap_input(text: str) -> str:
    """The part of text a user pattern sees (settings.EVALUATOR_REGEX_MAX_INPUT_CHARS)."""
    limit = settings.EVALUATOR_REGEX_MAX_INPUT_CHARS
    return text if len(text) <= limit else text[:limit]


def _escape(pattern: str, i: int, *, in_class: bool, ascii_classes: bool) -> tuple[str, int]:
    """Translate the escape at pattern[i] (a backslash); return RE2 text and the index after it."""
    e = pattern[i + 1]
    i += 2
    if e in "uU":
        width = 4 if e == "u" else 8
        digits = pattern[i : i + width]
        return f"\\x{{{digits}}}", i + width  # Python checked the digits already
    if e == "Z" and not in_class:
        return r"\z", i
    if e == "b" and in_class:
        return r"\x08", i  # a backspace inside [...]
    if not ascii_classes and e in "wdsWDS":
        body = _class_ranges(e.lower())
        return (body if in_class else f"[{body}]") if e.islower() else f"[^{body}]", i
    if e.isspace():
        return f"\\x{{{ord(e):x}}}", i  # an escaped space (verbose mode) is literal
    return "\\" + e, i


def _translate_set(pattern: str, i: int, *, ascii_classes: bool) -> tuple[str, int]:
    """Translate the [...] set opening at pattern[i]; return RE2 text and the index after its "]"."""
    i += 1
    negated = pattern.startswith("^", i)
    i += negated
    items: list[str] = []
    complements: list[str] = []  # \W \D \S inside the set: "or not in that class"
    first = True
    while pattern[i] != "]" or first:
        c = pattern[i]
        first = False
        if c == "\\":
            text, i = _escape(pattern, i, in_class=True, ascii_classes=ascii_classes)
            if text.startswith("[^"):
                complements.append(text)
            else:
                items.append(text)
            continue
        items.append({"[": r"\[", "]": r"\]"}.get(c, c))  # "[" is a literal in a Python set (RE2: [:alpha:])
        i += 1
    i += 1
    if not complements:
        return f"[{'^' if negated else ''}{''.join(items)}]", i
    if negated:
        raise PatternError("\\W, \\D or \\S inside a negated set [^...] is not supported; write the set differently")
    alternatives = ([f"[{''.join(items)}]"] if items else []) + complements
    return f"(?:{'|'.join(alternatives)})", i


def _translate(pattern: str, flags: str) -> str:
    """Rewrite a valid Python pattern into RE2 syntax with the same meaning (see the module docstring)."""
    ascii_classes = "a" in flags
    verbose = "x" in flags
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False, ascii_classes=ascii_classes)
            out.append(text)
        elif c == "[":
            text, i = _translate_set(pattern, i, ascii_classes=ascii_classes)
            out.append(text)
        elif verbose and c.isspace():
            i += 1
        elif verbose and c == "#":
            end = pattern.find("\n", i)
            i = n if end < 0 else end + 1
        elif pattern.startswith("(?#", i):
            i = pattern.index(")", i) + 1
        elif c == "$" and "m" not in flags:
            out.append(r"(?:\n?\z)")  # Python's $: the end, or before a newline that ends the text
            i += 1
        elif c == "{" and (upto := _UPTO_RE.match(pattern, i)):
            out.append(f"{{0,{upto.group(1)}}}")  # Python reads {,n} as {0,n}; RE2 would take it literally
            i = upto.end()
        else:
            scoped = _SCOPED_FLAGS_RE.match(pattern, i)
            if scoped and (set(scoped.group(1)) | set(scoped.group(2) or "")) - RE2_FLAGS:
                raise PatternError(f"the scoped flags {scoped.group(0)!r} are not supported; only i, m and s")
            out.append(c)
            i += 1
    return "".join(out)


def _split_inline_flags(pattern: str, flags: str) -> tuple[str, str]:
    """Move Python's global inline flags ((?i) etc.) into the flag letters, where the translation sees them."""
    letters = set(flags)
    for found in _INLINE_FLAGS_RE.finditer(pattern):
        letters |= set(found.group(1))
    if "L" in letters:
        raise PatternError("the L (locale) flag is not supported")
    letters.discard("u")  # Unicode is the default for str patterns
    return _INLINE_FLAGS_RE.sub("", pattern), "".join(sorted(letters))


@lru_cache(maxsize=512)
def compile_user_pattern(pattern: str, flags: str = "") -> UserPattern:
    """Compile a user pattern for RE2 (cached); raise PatternError naming what RE2 cannot do."""
    bits = 0
    for letter in flags:
        bits |= PYTHON_FLAGS[letter]
    try:
        re.compile(pattern, bits)  # Python's own syntax errors first, with their usual messages
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise PatternError(f"is not a valid regular expression: {exc.msg}{where}") from exc
    body, letters = _split_inline_flags(pattern, flags)
    translated = _translate(body, letters)
    inline = "".join(f for f in letters if f in RE2_FLAGS)
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(f"(?{inline}){translated}" if inline else translated, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"cannot run in linear time (RE2: {detail}); backreferences and lookaround are not supported"
        ) from exc
    return UserPattern(source=pattern, compiled=compiled)
