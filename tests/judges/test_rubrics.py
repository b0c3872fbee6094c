"""Rubrics: built-ins, validation of custom ones, and versions that follow every edit."""

from __future__ import annotations

import dataclasses
import re

import pytest

from apps.judges import rubrics
from apps.judges.rubrics import (
    ANSWER_RELEVANCE,
    BUILTIN_RUBRICS,
    FAITHFULNESS,
    HELPFULNESS,
    Rubric,
    custom_rubric,
)


def test_builtin_rubrics_are_the_three_documented_ones():
    assert set(BUILTIN_RUBRICS) == {"helpfulness", "faithfulness", "answer_relevance"}
    assert BUILTIN_RUBRICS["helpfulness"] is HELPFULNESS
    assert (HELPFULNESS.scale, HELPFULNESS.pass_threshold, HELPFULNESS.requires_context) == ("likert5", 4, False)
    assert (ANSWER_RELEVANCE.scale, ANSWER_RELEVANCE.pass_threshold) == ("likert5", 4)
    assert "question" in ANSWER_RELEVANCE.criteria


def test_faithfulness_is_binary_and_needs_context():
    assert FAITHFULNESS.scale == "binary"
    assert FAITHFULNESS.requires_context is True
    assert FAITHFULNESS.pass_threshold is None
    assert "supported by the retrieved context" in FAITHFULNESS.criteria


def test_rubric_version_is_a_short_stable_hash():
    again = Rubric(name="helpfulness", scale="likert5", criteria=HELPFULNESS.criteria)
    assert again.version == HELPFULNESS.version
    assert re.fullmatch(r"[0-9a-f]{12}", HELPFULNESS.version)
    assert len({r.version for r in BUILTIN_RUBRICS.values()}) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"criteria": "Is the answer polite?"},
        {"criteria": "Is the answer polite? "},  # even whitespace: the judge sees different text
        {"name": "politeness"},
        {"scale": "binary"},
        {"requires_context": True},
        {"pass_threshold": 3},
    ],
)
def test_rubric_version_changes_when_the_rubric_is_edited(change):
    base = dict(name="tone", scale="likert5", criteria="Is the answer polite", requires_context=False)
    assert Rubric(**{**base, **change}).version != Rubric(**base).version


def test_rubric_version_changes_with_the_prompt_template_version(monkeypatch):
    before = Rubric(name="tone", scale="binary", criteria="Polite?").version
    monkeypatch.setattr(rubrics, "PROMPT_TEMPLATE_VERSION", "test-bump")
    assert Rubric(name="tone", scale="binary", criteria="Polite?").version != before


def test_rubric_is_frozen_and_version_cannot_be_supplied():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HELPFULNESS.criteria = "anything"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Rubric(name="x", scale="binary", criteria="y", version="forged")  # type: ignore[call-arg]


def test_custom_rubric_builds_a_valid_rubric():
    rubric = custom_rubric("  tone ", "  Is the answer polite?\n", "likert5", pass_threshold=3)
    assert (rubric.name, rubric.criteria, rubric.scale, rubric.pass_threshold) == (
        "tone",
        "Is the answer polite?",
        "likert5",
        3,
    )
    assert custom_rubric("grounded", "Cites the context.", "binary", requires_context=True).requires_context


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "tone", "criteria": "", "scale": "binary"}, "criteria"),
        ({"name": "tone", "criteria": "   \n", "scale": "binary"}, "criteria"),
        ({"name": "tone", "criteria": "x" * 5000, "scale": "binary"}, "criteria"),
        ({"name": "tone", "criteria": "Polite?", "scale": "likert10"}, "scale"),
        ({"name": "tone", "criteria": "Polite?", "scale": ""}, "scale"),
        ({"name": " ", "criteria": "Polite?", "scale": "binary"}, "name"),
        ({"name": "tone", "criteria": "Polite?", "scale": "binary", "pass_threshold": 1}, "pass_threshold"),
        ({"name": "tone", "criteria": "Polite?", "scale": "likert5", "pass_threshold": 6}, "pass_threshold"),
        ({"name": "tone", "criteria": "Polite?", "scale": "likert5", "pass_threshold": True}, "pass_threshold"),
    ],
)
def test_custom_rubric_rejects_invalid_fields_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        custom_rubric(**kwargs)
