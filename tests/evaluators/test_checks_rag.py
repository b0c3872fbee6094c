"""RAG checks: citation markers, grounding of claims, sentence splitting, and the default set's throughput."""

from __future__ import annotations

import time

import pytest

from apps.evaluators.checks import CHECKS, run_check
from apps.evaluators.checks.rag import find_citations
from apps.evaluators.checks.text import split_sentences, stem
from apps.evaluators.subject import CheckResult, Document, Subject

DOCS = [
    Document(
        "kb-1",
        "Refund policy. Customers can request a full refund within 30 days of purchase. Refunds are issued to the "
        "original payment method and usually take 5 to 7 business days to appear. Digital downloads that have been "
        "opened are not eligible for a refund.",
    ),
    Document(
        "kb-2",
        "Shipping. Standard shipping takes 3-5 business days within the continental United States. Express "
        "shipping costs $14.99 and arrives in 1-2 business days. We do not ship to P.O. boxes.",
    ),
    Document(
        "kb-3",
        "Warranty. All Acme routers include a 2-year limited warranty covering manufacturing defects. The warranty "
        "does not cover water damage or unauthorized modifications. To file a claim, contact support with your "
        "serial number.",
    ),
    Document(
        "kb-4",
        "Password reset. To reset your password, open the login page and click Forgot password. Enter the email "
        "address on your account and follow the link we send you. The link expires after 24 hours.",
    ),
]


def rag(output: str, documents: list[Document] | None = None) -> Subject:
    """Build a RAG subject over the knowledge-base documents."""
    return Subject(trace_id="t", output=output, documents=DOCS if documents is None else documents)


def result_of(kind: str, config: dict, subj: Subject) -> CheckResult:
    """Run a check that must apply."""
    result = run_check(kind, config, subj)
    assert result is not None, f"{kind} did not apply"
    return result


# --- citations ------------------------------------------------------------------------------

LONG = "You can get a full refund within 30 days of purchase, and it goes back to the original payment method"

CITATIONS = {
    "numeric": (f"{LONG} [1].", "ok", 1.0, None),
    "numeric-list": (f"{LONG} [1, 3].", "ok", 1.0, None),
    "adjacent": (f"{LONG} [1][2].", "ok", 1.0, None),
    "range": (f"{LONG} [1-3].", "ok", 1.0, None),
    "lenticular": (f"{LONG} 【1】.", "ok", 1.0, None),
    "lenticular-dagger": (f"{LONG} 【1†source】.", "ok", 1.0, None),
    "doc-id": (f"{LONG} [kb-1].", "ok", 1.0, None),
    "doc-id-no-dash": (f"{LONG} [KB1].", "ok", 1.0, None),
    "positional-prefix": (f"{LONG} [doc 1].", "ok", 1.0, None),
    "source-paren": (f"{LONG} (source: kb-1).", "ok", 1.0, None),
    "sources-paren-list": (f"{LONG} (sources: kb-1, kb-4).", "ok", 1.0, None),
    "footnote": (f"{LONG}[^1].", "ok", 1.0, None),
    "sources-line": (f"{LONG}.\n\nSources: kb-1, kb-2", "ok", 1.0, None),
    "dangling-number": (f"{LONG} [1][7].", "dangling_citation", 2 / 3, "[7]"),  # 2 markers + 1 cited sentence
    "dangling-zero": (f"{LONG} [0].", "dangling_citation", 0.0, "[0]"),
    "dangling-id": (f"{LONG} [kb-99] and [kb-1].", "dangling_citation", 2 / 3, "[kb-99]"),
    "dangling-positional": (f"{LONG} [doc-9].", "dangling_citation", 0.0, "[doc-9]"),
    "dangling-lenticular": (f"{LONG} 【5】.", "dangling_citation", 0.0, "【5】"),
    "dangling-source-paren": (f"{LONG} (source: kb-12).", "dangling_citation", 0.0, "kb-12"),
    "uncited": (f"{LONG}.", "uncited", 0.0, "cites none of the 4"),
    "markdown-link-is-not-citation": (f"{LONG}, see [the policy](https://acme.test/refunds).", "uncited", 0.0, None),
    "checkbox-is-not-citation": (f"- [x] {LONG}.", "uncited", 0.0, None),
    "year-is-not-citation": (f"{LONG} as of [2024].", "uncited", 0.0, None),
    "citation-needed-is-not-citation": (f"{LONG} [citation needed].", "uncited", 0.0, None),
    "code-array-is-not-citation": (f"{LONG}:\n```python\nids = [9, 12]\n```\n[1]", "ok", 1.0, None),
    "short-answer-needs-none": ("Yes, within 30 days.", "ok", 1.0, "short"),
    "refusal-needs-none": (
        "I'm sorry, but I can't help with that request because it falls outside what this assistant covers today.",
        "ok", 1.0, "refusal",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("output", "label", "value", "snippet"), CITATIONS.values(), ids=CITATIONS.keys())
def test_citations(output: str, label: str, value: float, snippet: str | None) -> None:
    result = result_of("citations", {}, rag(output))
    assert (result.label, result.passed) == (label, label == "ok"), result.explanation
    assert result.value == pytest.approx(value)
    if snippet:
        assert snippet in result.explanation


def test_citations_numbers_may_name_numeric_ids() -> None:
    docs = [
        Document("12", "Full refunds are paid within 30 days of purchase to the original payment method."),
        Document("15", "You can get a full refund within 30 days of purchase, to the original payment method."),
    ]
    assert result_of("citations", {}, rag(f"{LONG} [15].", docs)).passed is True
    assert result_of("citations", {}, rag(f"{LONG} [doc-12].", docs)).passed is True


def test_citations_dangling_explanation_lists_what_exists() -> None:
    result = result_of("citations", {}, rag(f"{LONG} [9]."))
    assert "numbers must be 1–4" in result.explanation and "kb-1" in result.explanation


def test_citations_not_required_when_configured() -> None:
    assert result_of("citations", {"require_citations": False}, rag(f"{LONG}.")).passed is True


def test_citations_min_words_is_configurable() -> None:
    assert result_of("citations", {"min_words_to_require": 100}, rag(f"{LONG}.")).label == "ok"


def test_citations_apply_only_with_documents() -> None:
    assert run_check("citations", {}, rag(f"{LONG} [1].", documents=[])) is None


def test_find_citations_dedupes_in_order() -> None:
    tokens = [c.token for c in find_citations("a [2] b [1, 2] c 【2】 d [kb-1]", DOCS)]
    assert tokens == ["2", "1", "kb-1"]


# --- grounding ------------------------------------------------------------------------------

GROUNDED = (
    "You can request a full refund within 30 days of purchase [1]. Refunds go back to your original payment "
    "method and usually take 5-7 business days [1]. Express shipping costs $14.99 and arrives in 1-2 business "
    "days [2]. Let me know if you have any other questions!"
)

GROUNDING = {
    "all-supported": (GROUNDED, "grounded", 1.0),
    "paraphrase-with-inflections": (
        "Refunds are issued to the original payment method. Opened digital downloads aren't eligible for refunds.",
        "grounded", 1.0,
    ),
    "wrong-number": ("The reset link expires after 48 hours.", "ungrounded", 0.0),
    "number-from-another-document": ("Your router is covered by a 3-year limited warranty for manufacturing defects.", "ungrounded", 0.0),
    "invented-claim": (
        "You can request a full refund within 30 days of purchase. The moon is made of green cheese according to NASA.",
        "ungrounded", 0.5,
    ),
    "one-of-five-unsupported-still-passes": (
        GROUNDED + " Standard shipping takes 3-5 business days within the continental United States. "
        "We also offer free gift wrapping on every order placed before noon.",
        "grounded", 0.8,
    ),
    "only-pleasantries": ("Hi there! Happy to help. Is there anything else?", "no_claims", 1.0),
    "only-question": ("Could you tell me which router model you have?", "no_claims", 1.0),
    "decimals-and-abbreviations": (
        "Express shipping costs $14.99, e.g. for 1-2 business days delivery. We don't ship to P.O. boxes.",
        "grounded", 1.0,
    ),
    "bullets": (
        "Here is what to know:\n- Standard shipping takes 3-5 business days.\n- Express shipping costs $14.99.\n"
        "- Shipping to P.O. boxes is not available.",
        "grounded", 1.0,
    ),
    "number-words-match-digits": ("Refunds usually take five to seven business days to appear.", "grounded", 1.0),
    "code-is-not-a-claim": ("Run this:\n```bash\ncurl -X POST https://api.acme.test/v9/refunds --retry 77\n```", "no_claims", 1.0),
}  # fmt: skip


@pytest.mark.parametrize(("output", "label", "value"), GROUNDING.values(), ids=GROUNDING.keys())
def test_grounding(output: str, label: str, value: float) -> None:
    result = result_of("grounding", {}, rag(output))
    assert result.label == label, result.explanation
    assert result.value == pytest.approx(value)
    assert result.passed is (label != "ungrounded")


def test_grounding_explanation_quotes_the_unsupported_sentence_and_why() -> None:
    result = result_of(
        "grounding", {}, rag("The reset link expires after 48 hours. Refunds take 5 to 7 business days.")
    )
    assert "'The reset link expires after 48 hours.'" in result.explanation
    assert "answer says 48 hours; kb-4 says 24 hours" in result.explanation


def test_grounding_names_a_number_the_matching_document_lacks() -> None:
    result = result_of(
        "grounding", {}, rag("Acme routers include a 3-year limited warranty covering manufacturing defects.")
    )
    assert "answer says 3 year; kb-3 says 2 year" in result.explanation


def test_grounding_reads_across_neighbouring_chunks() -> None:
    split = [
        Document("a", "The Model Z router supports WPA3 encryption"),
        Document("b", "and mesh networking with up to six nodes."),
    ]
    result = result_of("grounding", {}, rag("The Model Z router supports WPA3 encryption and mesh networking.", split))
    assert result.label == "grounded"


def test_grounding_threshold_and_min_share_are_configurable() -> None:
    text = "You can request a refund within 30 days. The moon is made of green cheese according to NASA."
    assert result_of("grounding", {"min_share": 0.5}, rag(text)).passed is True
    strict = result_of("grounding", {"threshold": 1.0}, rag("Customers may request refunds within 30 days of buying."))
    assert strict.label == "ungrounded"


def test_grounding_applies_only_with_document_text() -> None:
    assert run_check("grounding", {}, rag("A claim about refunds.", documents=[Document("x", "")])) is None


def test_grounding_does_not_count_citation_numbers_as_claims() -> None:
    result = result_of("grounding", {}, rag("Express shipping costs $14.99 [2] and arrives in 1-2 business days [2]."))
    assert result.label == "grounded", result.explanation


# --- sentence splitting and stemming --------------------------------------------------------

SPLITS = {
    "abbreviation": ("Use a router, e.g. the Z100. It is fast.", ["Use a router, e.g. the Z100.", "It is fast."]),
    "decimal": ("It costs 3.5 dollars. Buy it.", ["It costs 3.5 dollars.", "Buy it."]),
    "initials": ("Ask J. Smith today. He knows.", ["Ask J. Smith today.", "He knows."]),
    "bullets": ("Steps:\n- Open it\n- Close it", ["Steps:", "Open it", "Close it"]),
    "numbered": ("1. First step\n2) Second step", ["First step", "Second step"]),
    "question-exclaim": ("Really? Yes! Done.", ["Really?", "Yes!", "Done."]),
    "quote-closing": ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
    "etc-end": ("Bring pens, paper, etc. Then sit.", ["Bring pens, paper, etc.", "Then sit."]),
    "heading": ("## Refunds\nThey take 5 days.", ["Refunds", "They take 5 days."]),
}


@pytest.mark.parametrize(("text", "expected"), SPLITS.values(), ids=SPLITS.keys())
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_sentences(text)] == expected


@pytest.mark.parametrize(
    "words",
    [("refund", "refunds", "refunded", "refunding"), ("policy", "policies"), ("use", "uses", "used", "using"),
     ("stop", "stopped", "stopping"), ("process", "processing", "processed"), ("activate", "activation")],
)  # fmt: skip
def test_stem_conflates_inflections(words: tuple[str, ...]) -> None:
    assert len({stem(w) for w in words}) == 1


# --- throughput -----------------------------------------------------------------------------

PASSAGE = (
    "The Acme Z100 router supports Wi-Fi 6 with speeds up to 2.4 Gbps on the 5 GHz band. Setup takes about "
    "10 minutes using the Acme Home app, available for iOS and Android. The router includes four gigabit "
    "Ethernet ports and one USB 3.0 port for network storage. Firmware updates install automatically at 3 AM "
    "local time unless you disable auto-update in Settings. Parental controls let you pause internet access "
    "per device and set daily schedules. The device draws 12 watts on average and ships with a 2-year warranty. "
    "Mesh mode pairs up to six Z100 units into one network with seamless roaming between them. "
    "Guest networks can be enabled from the app with a separate password and an optional time limit. The USB "
    "port can share a printer or a drive on firmware 1.8 and later. Support is available by chat every day. "
)


def realistic_subject(index: int, *, unique_documents: bool) -> Subject:
    """A RAG trace: ~1.5 KB cited answer, 4 documents of ~800 characters."""
    salt = f" Ticket {index}." if unique_documents else ""
    docs = [Document(f"kb-{n}", (PASSAGE[n * 40 :] + PASSAGE[: n * 40])[:790] + salt) for n in range(4)]
    answer = (
        "Thanks for your question! Here is what you need to know about the Z100.\n\n"
        "The Acme Z100 supports Wi-Fi 6 with speeds up to 2.4 Gbps on the 5 GHz band [1]. Setup takes about "
        "10 minutes with the Acme Home app for iOS and Android [1]. It has four gigabit Ethernet ports and a USB "
        "3.0 port for network storage [2]. Firmware updates install automatically at 3 AM local time, unless "
        "you turn off auto-update in Settings [2].\n\n"
        "- Parental controls pause internet access per device and set daily schedules [3].\n"
        "- The router draws 12 watts on average and comes with a 2-year warranty [3].\n"
        "- Mesh mode pairs up to six units into one network with seamless roaming [4].\n\n"
        "In practice, most customers find that placing the router centrally improves coverage across the home, "
        "and a second unit in mesh mode removes dead zones in larger houses [4]. If your speeds are lower than "
        "expected, make sure your devices support Wi-Fi 6 and the 5 GHz band, since older devices fall back to "
        "slower standards [1]. The USB port can also share a printer on some firmware versions [2]. Parental "
        "controls are managed per device in the Acme Home app, and schedules repeat daily until you change them "
        "[3]. Because firmware updates install automatically at 3 AM, the network may drop for a minute or two "
        "at that time [2]. Each Z100 unit draws about 12 watts, so running two units in mesh mode costs little "
        "extra power [3]. You can also enable a guest network with its own password and a time limit [4].\n\n"
        "Let me know if you have any other questions!"
    )
    return Subject(trace_id=f"t{index}", output=answer, documents=docs, finish_reason="stop")


def run_default_set(subjects: list[Subject], configs: dict[str, dict]) -> int:
    """Run the default checks over subjects; return how many results they produced."""
    produced = 0
    for subj in subjects:
        for kind, config in configs.items():
            check = CHECKS[kind]
            if check.applies(subj, config):
                check.run(subj, config)
                produced += 1
    return produced


@pytest.mark.parametrize("unique_documents", [False, True], ids=["recurring-docs", "unique-docs"])
def test_default_set_throughput(unique_documents: bool, capsys: pytest.CaptureFixture[str]) -> None:
    kinds = ("not_empty", "refusal", "citations", "grounding", "json_valid")
    configs = {kind: CHECKS[kind].validate_config({}) for kind in kinds}
    sample = realistic_subject(0, unique_documents=unique_documents)
    assert len(sample.output) > 1400 and all(750 < len(d.content) < 850 for d in sample.documents)
    # The answer's own advice ("In practice, most customers…") is rightly unsupported, and so is "the network
    # may drop for a minute", which no document says: 10 of 14 claims hold, and 3 of 14 cited sentences fail.
    assert result_of("grounding", {}, sample).value == pytest.approx(10 / 14)
    citations = result_of("citations", {}, sample)
    assert (citations.label, citations.passed) == ("unsupported_citation", False)
    assert "3 of 14 cited sentences" in citations.explanation
    subjects = [realistic_subject(i, unique_documents=unique_documents) for i in range(600)]
    run_default_set([realistic_subject(10_000 + i, unique_documents=unique_documents) for i in range(50)], configs)
    start = time.process_time()  # CPU time: other jobs on a shared machine do not count against us
    produced = run_default_set(subjects, configs)
    elapsed = time.process_time() - start
    rate = len(subjects) / elapsed
    with capsys.disabled():
        print(f"\ndefault set ({'unique' if unique_documents else 'recurring'} docs): {rate:,.0f} subjects/s")
    assert produced == len(subjects) * 4  # json_valid does not apply without expects_json


def test_grounding_does_not_count_a_refusal_as_an_unsupported_claim():
    from apps.evaluators.checks import run_check
    from apps.evaluators.subject import Document, Subject

    docs = [Document(id="kb-7", content="Two-factor authentication is enabled under Settings, Security, Two-factor.")]
    refusal = Subject(trace_id="t", output="I'm sorry, but I can't help with that request.", documents=docs)
    result = run_check("grounding", {}, refusal)
    assert (result.label, result.passed) == ("no_claims", True)
    mixed = Subject(
        trace_id="t", output="Sorry for the wait. The refund window is 90 days for monthly plans.", documents=docs
    )
    assert run_check("grounding", {}, mixed).passed is False  # the apology is skipped, the claim is not
