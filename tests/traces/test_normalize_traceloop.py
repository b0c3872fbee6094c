"""Traceloop decorator payloads (`traceloop.entity.input`/`.output`) read as the text they wrap.

The attributes are what traceloop-sdk's @workflow/@task/@tool set: `json.dumps({"args": args, "kwargs": kwargs})`
and `json.dumps(result)`, with json's default separators and ASCII escapes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.traces.normalize import normalize_span
from apps.traces.normalize.openllmetry import entity_input_text, entity_output_text
from tests.traces.test_normalize import make_span

QUESTION = "How do I reset my password?"
ANSWER = "Open Settings, then Security, then choose Reset password."


def workflow_span(args: list[Any], kwargs: dict[str, Any], result: Any, **extra: Any) -> Any:
    """Normalize a root @workflow span as traceloop-sdk sends it."""
    attrs = {
        "traceloop.span.kind": "workflow",
        "traceloop.entity.name": "support_answer",
        "traceloop.workflow.name": "support_answer",
        "traceloop.entity.path": "",
        "traceloop.association.properties.user_id": "user-42",
        "traceloop.entity.input": json.dumps({"args": args, "kwargs": kwargs}),
        "traceloop.entity.output": json.dumps(result),
        **extra,
    }
    return normalize_span(make_span(attrs, name="support_answer.workflow", parent=b""))


def test_workflow_with_one_string_argument_reads_as_that_string() -> None:
    n = workflow_span([QUESTION], {}, ANSWER)
    assert (n.input_text, n.output_text) == (QUESTION, ANSWER)
    assert json.loads(n.raw_input) == {"args": [QUESTION], "kwargs": {}}  # the raw payload is kept as it came
    assert json.loads(n.raw_output) == ANSWER
    assert n.route == "support_answer" and n.user_id == "user-42"


def test_one_string_keyword_argument_and_non_ascii() -> None:
    n = workflow_span([], {"question": "Où est ma facture ?"}, "Dans l’onglet Facturation.")
    assert (n.input_text, n.output_text) == ("Où est ma facture ?", "Dans l’onglet Facturation.")


def test_no_arguments_is_no_input() -> None:
    n = workflow_span([], {}, ANSWER)
    assert n.input_text == "" and n.output_text == ANSWER


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (["a", "b"], {}),  # two arguments
        ([QUESTION], {"lang": "en"}),  # one positional, one keyword
        ([3], {}),  # not a string
        ([{"q": QUESTION}], {}),  # a structure
        ([], {"q": QUESTION, "k": 5}),
    ],
)
def test_other_shapes_stay_json(args: list[Any], kwargs: dict[str, Any]) -> None:
    n = workflow_span(args, kwargs, ANSWER)
    assert json.loads(n.input_text) == {"args": args, "kwargs": kwargs}


@pytest.mark.parametrize("result", [{"answer": ANSWER}, [ANSWER], 42, None])
def test_non_string_output_stays_json(result: Any) -> None:
    n = workflow_span([QUESTION], {}, result)
    assert json.loads(n.output_text) == result


def test_task_and_tool_spans() -> None:
    task = normalize_span(
        make_span(
            {
                "traceloop.span.kind": "task",
                "traceloop.entity.name": "retrieve_context",
                "traceloop.entity.input": json.dumps({"args": [QUESTION], "kwargs": {}}),
                "traceloop.entity.output": json.dumps(["doc-1", "doc-2"]),
                "traceloop.workflow.name": "support_answer",
            },
            name="retrieve_context.task",
        )
    )
    assert task.kind == "chain" and task.input_text == QUESTION
    assert json.loads(task.output_text) == ["doc-1", "doc-2"]
    tool = normalize_span(
        make_span(
            {
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": "get_weather",
                "traceloop.entity.input": json.dumps({"args": [], "kwargs": {"city": "Oslo"}}),
                "traceloop.entity.output": json.dumps("cold"),
            },
            name="get_weather.tool",
        )
    )
    assert (tool.input_text, tool.output_text) == ("Oslo", "cold")
    call = tool.tool_calls[0]  # the call keeps its arguments and result as they came
    assert call["arguments"] == {"args": [], "kwargs": {"city": "Oslo"}} and call["result"] == '"cold"'


def test_other_conventions_are_not_unwrapped() -> None:
    payload = json.dumps({"args": [QUESTION], "kwargs": {}})
    n = normalize_span(make_span({"openinference.span.kind": "CHAIN", "input.value": payload, "output.value": '"x"'}))
    assert json.loads(n.input_text) == {"args": [QUESTION], "kwargs": {}} and n.output_text == '"x"'


def test_payload_cut_at_the_cap_stays_as_it_came() -> None:
    cut = json.dumps({"args": [QUESTION], "kwargs": {}})[:30]
    assert entity_input_text(cut) == cut
    assert entity_output_text('"unterminated') == '"unterminated'
    assert entity_input_text("plain text") == "plain text"
    assert entity_input_text('{"args": ["a"]}') == '{"args": ["a"]}'  # not the decorator's shape
