"""A change in what a check computes changes the evaluator version, so re-scored traffic is a version step."""

from __future__ import annotations

import pytest

from apps.evaluators.checks import CHECKS
from apps.evaluators.checks.base import INITIAL_LOGIC_VERSION
from apps.evaluators.selectors import config_version
from apps.evaluators.services import _clean_config


def test_grounding_and_citations_carry_a_logic_version_in_their_evaluator_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for kind in ("grounding", "citations"):
        _, version = _clean_config(kind, {}, None)
        assert CHECKS[kind].logic_version != INITIAL_LOGIC_VERSION
        monkeypatch.setattr(CHECKS[kind], "logic_version", INITIAL_LOGIC_VERSION)
        _, before_logic_versions = _clean_config(kind, {}, None)
        assert version != before_logic_versions  # the logic version is in the hash


def test_bumping_a_logic_version_changes_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _, before = _clean_config("grounding", {}, None)
    monkeypatch.setattr(CHECKS["grounding"], "logic_version", "99")
    _, after = _clean_config("grounding", {}, None)
    assert before != after


def test_a_check_never_bumped_keeps_the_version_it_always_had() -> None:
    cleaned, version = _clean_config("not_empty", {}, None)
    assert version == config_version(kind="not_empty", config=cleaned)
