"""User regexes on RE2: linear time, capped input, Python's meaning kept, RE2-incompatible patterns refused."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.evaluators.checks import CHECKS, CheckConfigError
from apps.evaluators.checks.patterns import PatternError, compile_user_pattern
from tests.evaluators.test_checks import result_of, subject
from tests.evaluators.test_views import HTMX, form_data
from tests.traces.factories import simple_trace

CATASTROPHIC = "a" * 50_000 + "b"  # (a+)+$ backtracks exponentially on this in Python's re


def test_catastrophic_pattern_finishes_with_the_right_result() -> None:
    required = result_of("regex", {"pattern": "(a+)+$"}, subject(CATASTROPHIC))
    assert (required.label, required.passed) == ("no_match", False)
    forbidden = result_of("regex", {"pattern": "(a+)+$", "mode": "must_not_match"}, subject(CATASTROPHIC))
    assert (forbidden.label, forbidden.passed) == ("ok", True)
    assert result_of("regex", {"pattern": "(a+)+b$", "full_match": True}, subject(CATASTROPHIC)).label == "ok"


def test_catastrophic_json_schema_patterns_finish() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    assert result_of("json_schema", {"schema": schema}, subject(json.dumps({"code": CATASTROPHIC}))).passed is False
    assert result_of("json_schema", {"schema": schema}, subject(json.dumps({"code": "a" * 50_000}))).passed is True
    keys = {"type": "object", "patternProperties": {"^(x+)+$": {"type": "integer"}}, "additionalProperties": False}
    bad_key = json.dumps({"x" * 30_000 + "y": 1})
    assert result_of("json_schema", {"schema": keys}, subject(bad_key)).passed is False
    assert result_of("json_schema", {"schema": keys}, subject(json.dumps({"x" * 30_000: 1}))).passed is True


# Patterns RE2 supports keep Python's results: same match or not, same span, on ASCII and non-ASCII text.
EQUIVALENCE_PATTERNS = [
    (r"ORD-\d+", ""),
    (r"\b\d{3}-\d{2}-\d{4}\b", ""),
    (r"^Sources:", "m"),
    (r"thank you", "i"),
    (r"\w+@\w+\.\w+", ""),
    (r"[\w.]+", ""),
    (r"[^\s]+$", ""),
    (r"\s{2,}", ""),
    (r"[\S\s]{3}", ""),
    (r"(yes|no)\Z", ""),
    (r"a{,2}b", ""),
    (r"caf\u00e9", ""),
    (r"(?i)straße", ""),
    (r"\d+ \w+  # count and unit", "x"),
    (r"[]x]+", ""),
    (r"(?#comment)end$", ""),
    (r"\w+", "a"),
    (r"a.b", "s"),
]
EQUIVALENCE_TEXTS = [
    "Your order ORD-1234 shipped.",
    "SSN 123-45-6789 here",
    "Answer.\nSources: [1]",
    "Thank You",
    "mail jörg@exämple.de now",
    "  spaced   out  ",
    "yes",
    "aab b",
    "café crème ٣٤ 五",
    "STRASSE straße",
    "12 kg  of x",
    "]x]",
    "the end",
    "a\nb",
]


@pytest.mark.parametrize(("pattern", "flags"), EQUIVALENCE_PATTERNS)
def test_results_match_pythons_re_for_patterns_re2_supports(pattern: str, flags: str) -> None:
    bits = 0
    for letter in flags:
        bits |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X, "a": re.A}[letter]
    python = re.compile(pattern, bits)
    ours = compile_user_pattern(pattern, flags)
    for text in EQUIVALENCE_TEXTS:
        expected, got = python.search(text), ours.search(text)
        assert (expected and expected.span()) == (got and got.span()), (pattern, text)
        expected, got = python.fullmatch(text), ours.fullmatch(text)
        assert (expected is None) == (got is None), (pattern, text)


@pytest.mark.parametrize("letter", "wWdDsS")
def test_unicode_classes_match_python_on_every_code_point(letter: str) -> None:
    every_char = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    python = [m.span() for m in re.finditer(f"\\{letter}+", every_char)]
    ours = [m.span() for m in compile_user_pattern(f"\\{letter}+").compiled.finditer(every_char)]
    assert ours == python


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?P<q>['\"]).*(?P=q)", r"foo(?=bar)", r"foo(?!bar)", r"(?<=\$)\d+", r"(?<!no )way", r"[^\W]"],
)
def test_patterns_re2_cannot_run_are_refused_naming_the_field(pattern: str) -> None:
    with pytest.raises(CheckConfigError) as caught:
        CHECKS["regex"].validate_config({"pattern": pattern})
    assert caught.value.field == "pattern"
    with pytest.raises(CheckConfigError) as caught:
        CHECKS["json_schema"].validate_config({"schema": {"properties": {"a": {"pattern": pattern}}}})
    assert caught.value.field == "schema" and "schema.properties.a.pattern" in caught.value.message


def test_python_syntax_errors_keep_their_message() -> None:
    with pytest.raises(PatternError, match="is not a valid regular expression: missing \\), unterminated subpattern"):
        compile_user_pattern("(unclosed")


def test_input_beyond_the_cap_is_not_searched(settings) -> None:
    settings.EVALUATOR_REGEX_MAX_INPUT_CHARS = 100
    late = "x" * 150 + " ORD-1"
    assert result_of("regex", {"pattern": r"ORD-\d"}, subject(late)).label == "no_match"
    assert result_of("regex", {"pattern": r"ORD-\d"}, subject("ORD-1 " + "x" * 150)).label == "ok"
    # Length limits still see the whole answer.
    assert result_of("format", {"max_length": 120}, subject(late)).label == "too_long"


@pytest.mark.django_db
def test_api_refuses_a_lookaround_pattern_with_a_400_naming_the_field(admin_api_client, project) -> None:
    response = admin_api_client.post(
        "/api/v1/evaluators",
        {"name": "r", "kind": "regex", "config": {"pattern": r"(?<!not )allowed"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "config.pattern"
    assert "lookaround" in response.json()["error"] + json.dumps(response.json().get("detail"))


@pytest.mark.django_db
def test_form_shows_the_re2_error_on_the_field(client, alice, project) -> None:
    client.force_login(alice)
    config = json.dumps({"pattern": r"(\w)\1", "mode": "must_not_match"})
    response = client.post(reverse("evaluators:preview", args=[project.slug]), form_data(config=config), **HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="config"' in body and "pattern: cannot run in linear time" in body


@pytest.mark.django_db
def test_preview_runs_a_catastrophic_pattern_to_the_right_result(client, alice, project) -> None:
    simple_trace(project, at=timezone.now() - timedelta(minutes=5), output_text=CATASTROPHIC)
    client.force_login(alice)
    config = json.dumps({"pattern": "(a+)+$", "mode": "must_not_match"})
    response = client.post(reverse("evaluators:preview", args=[project.slug]), form_data(config=config), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-testid="preview-row"') == 1
    assert '<span class="badge ok">pass</span>' in body
