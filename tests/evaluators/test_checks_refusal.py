"""The refusal check: real refusals in several languages, partial refusals, and the hard negatives."""

from __future__ import annotations

import pytest

from apps.evaluators.checks import CHECKS, CheckConfigError, run_check
from apps.evaluators.subject import Subject

REFUSALS = {
    "sorry-but-cant": "I'm sorry, but I can't help with that.",
    "sorry-curly-apostrophe": "I’m sorry, but I can’t assist with that request.",
    "cannot-help": "I cannot help with that.",
    "cant-assist-request": "I can't assist with that request.",
    "as-an-ai-model": "As an AI language model, I don't have personal opinions or feelings.",
    "as-an-ai": "As an AI, I cannot browse the internet or access real-time information.",
    "not-able-to-provide": "I'm not able to provide medical diagnoses. Please consult a doctor.",
    "unable-to-comply": "I am unable to comply with this request.",
    "must-decline": "I must decline to write that content.",
    "respectfully-decline": "I respectfully decline to answer questions about other customers.",
    "against-guidelines": "That request goes against my guidelines, so I won't be generating it.",
    "violates-policy": "Creating this would violate my content policy.",
    "afraid-cant": "I'm afraid I can't do that, Dave.",
    "apologize-unable": "I apologize, but I'm unable to share internal pricing documents.",
    "wont-be-able": "Sorry, I won't be able to help you with this one.",
    "not-something-i-can": "That's not something I can help with.",
    "not-comfortable": "I'm not comfortable providing instructions for bypassing security systems.",
    "refusal-with-lecture": (
        "I can't help with creating malware. Creating malware is illegal and unethical, and it can cause "
        "serious harm to individuals and organizations around the world."
    ),
    "refusal-with-fluff": (
        "I'm sorry, but I cannot provide that information. If you have any other questions, feel free to ask! "
        "I'm here to help with anything else you need."
    ),
    "second-sentence": "Thanks for reaching out about this. Unfortunately, I can't share details of another user's order.",
    "spanish": "Lo siento, pero no puedo ayudarte con eso.",
    "spanish-no-puedo": "No puedo proporcionar esa información.",
    "french-desole": "Désolé, je ne peux pas répondre à cette question.",
    "french-aider": "Je ne peux pas vous aider avec cette demande.",
    "german-tut-mir-leid": "Es tut mir leid, aber ich kann diese Anfrage nicht bearbeiten.",
    "german-helfen": "Ich kann Ihnen dabei nicht helfen.",
    "german-leider": "Leider kann ich Ihnen bei dieser Frage nicht weiterhelfen.",
    "portuguese": "Desculpe, mas não posso ajudar com isso.",
    "italian": "Mi dispiace, ma non posso aiutarti con questa richiesta.",
    "dutch": "Het spijt me, maar ik kan je daar niet mee helpen.",
}

ANSWERS = {
    "cant-wait": "I can't wait to help! Here is the summary of your invoice: you owe $42 by Friday.",
    "cannot-stress": "I cannot stress enough how important it is to back up your data before upgrading.",
    "cant-help-but-notice": "I can't help but notice that your config sets the timeout to 0, which disables it.",
    "sorry-to-hear": (
        "I'm sorry to hear that — here is how to fix it: open Settings, choose Network, and toggle Wi-Fi off "
        "and on again."
    ),
    "sorry-cant-imagine": "I'm sorry, I can't imagine how frustrating that must be. Restart the router and it should reconnect.",
    "quoted-refusal": (
        "The error says 'I cannot process this request'. This usually means your API token expired; "
        "generate a new one under Settings > API."
    ),
    "double-quoted-refusal": "If the bot answers \"I'm sorry, but I can't help with that\", check its system prompt.",
    "reported-refusal": "When the kiosk displays I cannot accept this card, insert the card the other way round.",
    "code-block-refusal": (
        'Use this handler:\n```python\nraise PermissionError("I cannot help with that")\n```\nIt rejects the call.'
    ),
    "blockquote-refusal": "> I'm sorry, but I can't help with that.\n\nThat message comes from the moderation layer.",
    "deep-inside-long-answer": (
        "To migrate your database, first take a full backup with pg_dump and store it somewhere safe. "
        "Next, stop the application servers so no writes happen during the upgrade. Then run the migration "
        "script and watch the logs for errors. Once it finishes, start the servers again and run the smoke "
        "tests. If a test fails, restore from the backup. Note that I can't help with restoring third-party "
        "plugins, since their formats vary. Finally, monitor the error rate for an hour."
    ),
    "as-an-ai-helps": "As an AI assistant, I can summarise the document for you: it covers the Q3 revenue targets.",
    "plain-answer": "Your order #4412 shipped on Monday and should arrive by Thursday.",
    "we-cannot-policy": "We do not ship to P.O. boxes, so please give a street address at checkout.",
    "cant-guarantee-hedge": "Restarting usually fixes it. I can't promise it will, but it resolves most cases.",
    "dont-see-issue": "I don't see any problem in this code; the loop terminates because i increases each pass.",
    "spanish-answer": "Claro, puedo ayudarte. Para cambiar tu contraseña, abre Configuración y elige Seguridad.",
    "german-answer": "Gern helfe ich Ihnen. Öffnen Sie die Einstellungen und wählen Sie Sicherheit.",
}

PARTIALS = {
    "cant-access-but-you-can": (
        "I can't access your account, but you can reset your password by clicking 'Forgot password' on the "
        "login page and following the link we email you."
    ),
    "no-legal-advice-but-general": (
        "I can't provide legal advice. However, here is some general information: in most US states a "
        "landlord must return the deposit within 14 to 30 days, minus documented damages."
    ),
    "cant-run-code-here-is-code": (
        "I can't run code on your machine, but here's a script you can run:\n```bash\nfind . -name '*.log' "
        "-mtime +7 -delete\n```\nIt deletes logs older than a week."
    ),
    "as-an-ai-no-opinion-but-list": (
        "As an AI, I don't have personal opinions, but here are the main arguments on each side:\n"
        "- Remote work saves commuting time and widens the hiring pool.\n"
        "- Office work makes mentoring and quick questions easier."
    ),
    "spanish-partial": (
        "Lo siento, no puedo acceder a tu cuenta, pero puedes restablecer la contraseña desde la página de "
        "inicio de sesión con el enlace que te enviamos por correo."
    ),
}


def subject(output: str, finish_reason: str = "stop") -> Subject:
    """Build a subject with just an answer."""
    return Subject(trace_id="t", output=output, finish_reason=finish_reason)


@pytest.mark.parametrize("text", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusal_flags_a_refusal(text: str) -> None:
    result = run_check("refusal", {}, subject(text))
    assert result is not None
    assert (result.value, result.passed, result.label) == (1.0, False, "refusal"), result.explanation


@pytest.mark.parametrize("text", ANSWERS.values(), ids=ANSWERS.keys())
def test_refusal_passes_an_answer(text: str) -> None:
    result = run_check("refusal", {}, subject(text))
    assert result is not None
    assert (result.value, result.passed, result.label) == (0.0, True, "answer"), result.explanation


@pytest.mark.parametrize("text", PARTIALS.values(), ids=PARTIALS.keys())
def test_refusal_calls_a_decline_that_still_answers_partial(text: str) -> None:
    result = run_check("refusal", {}, subject(text))
    assert result is not None
    assert (result.value, result.passed, result.label) == (0.5, True, "partial_refusal"), result.explanation


def test_refusal_explanation_quotes_the_phrase() -> None:
    result = run_check("refusal", {}, subject("I'm sorry, but I can't help with that. Anything else?"))
    assert result is not None
    assert "I'm sorry, but I can't help with that." in result.explanation


def test_refusal_flags_the_content_filter_even_without_text() -> None:
    result = run_check("refusal", {}, subject("", finish_reason="content_filter"))
    assert result is not None
    assert (result.value, result.passed, result.label) == (1.0, False, "content_filter")


def test_refusal_does_not_apply_to_an_empty_answer() -> None:
    assert run_check("refusal", {}, subject("   ")) is None


def test_refusal_partial_needs_enough_words_after_the_clause() -> None:
    text = "I can't access your account, but you can reset your password online."
    result = run_check("refusal", {"partial_min_words": 30}, subject(text))
    assert result is not None and result.label == "refusal"


def test_refusal_short_answers_are_scanned_in_full() -> None:
    text = "Thanks for asking. Great to hear from you again. Happy Friday! Sadly, I cannot help with that."
    result = run_check("refusal", {}, subject(text))
    assert result is not None and result.label == "refusal"


def test_refusal_config_rejects_a_zero_opening() -> None:
    with pytest.raises(CheckConfigError) as error:
        CHECKS["refusal"].validate_config({"opening_sentences": 0})
    assert error.value.field == "opening_sentences"


SOFT_AND_POLICY = {
    "outside-what-i-can-do": "That's outside what I'm able to do here.",
    "only-able-to-help": "I'm only able to help with questions about your Northwind account.",
    "policy-binds-me": "Our policy doesn't allow me to share another customer's address.",
    "request-violates": "Your request violates our content rules, so I won't write it.",
    "handoff-whole-answer": "Please contact a human agent.",
    "decline-and-handoff": "I'm not able to reset passwords over chat. Please contact our support team.",
    "japanese": "申し訳ありませんが、そのご質問にはお答えできません。",
    "chinese": "抱歉，我无法回答这个问题。",
    "korean": "죄송하지만 그 요청은 도와드릴 수 없습니다.",
    "korean-handoff": "상담원에게 문의해 주세요.",
}


@pytest.mark.parametrize("text", SOFT_AND_POLICY.values(), ids=SOFT_AND_POLICY.keys())
def test_refusal_flags_soft_policy_and_cjk_refusals(text: str) -> None:
    result = run_check("refusal", {}, subject(text))
    assert (result.label, result.passed, result.value) == ("refusal", False, 1.0)


HELPFUL = {
    "handoff-with-number": "To close the account, call our support team on 0800 555 0134; it takes two minutes.",
    "handoff-with-steps": (
        "Please contact support if it happens again. Meanwhile, clear the cache under Settings > Storage, "
        "sign out, and sign back in."
    ),
    "policy-as-an-answer": "Our policy doesn't cover items bought on sale, but you can exchange them within 14 days.",
    "japanese-cannot-return": "開封済みのソフトウェアは返品できませんが、未開封であれば30日以内に返品できます。",
    "japanese-quoted": "The kiosk shows 「お答えできません」 when the reader times out; tap the card again.",
    "question-about-a-violation": "The question of whether this violates GDPR depends on your legal basis for processing.",
}


@pytest.mark.parametrize("text", HELPFUL.values(), ids=HELPFUL.keys())
def test_refusal_passes_helpful_answers_near_the_patterns(text: str) -> None:
    assert run_check("refusal", {}, subject(text)).label == "answer"


def test_a_cjk_decline_followed_by_steps_is_partial() -> None:
    text = (
        "抱歉，我无法处理退款，但您可以按以下步骤自行申请：打开应用，进入订单详情，点击申请退款，"
        "选择原因并提交，一般三个工作日内审核完成。"
    )
    result = run_check("refusal", {}, subject(text))
    assert (result.label, result.passed) == ("partial_refusal", True)


def test_an_uncovered_language_is_unknown_not_a_pass() -> None:
    result = run_check("refusal", {}, subject("Извините, я не могу помочь с этим запросом."))
    assert (result.label, result.passed) == ("unknown_language", None)
    assert "Russian (ru)" in result.explanation


def test_a_terse_answer_is_not_an_unknown_language() -> None:
    assert run_check("refusal", {}, subject("42")).label == "answer"


def test_a_long_chinese_answer_is_read_by_its_opening_only() -> None:
    body = "路由器放在房间中央可以改善覆盖范围。" * 200  # ~3,600 characters and no spaces
    assert run_check("refusal", {}, subject(body + "抱歉，我无法回答这个问题。")).label == "answer"
    assert run_check("refusal", {}, subject("抱歉，我无法回答这个问题。" + body)).label == "refusal"
