"""The static seed's help-center day (seed_demo's 24 h of traces): articles, questions with their good answers, the
bad answers, and the ground truth of each answer, which the demo judge grades from as it does the bank's."""

from __future__ import annotations

from apps.demo.bank import GOOD, REFUSAL, UNGROUNDED

DOCS = [
    ("kb-12", "To reset your password, open Settings → Security and choose Reset password. A link is emailed."),
    ("kb-31", "Refunds are available within 30 days of purchase for annual plans; monthly plans are not refunded."),
    ("kb-7", "Two-factor authentication can be enabled under Settings → Security → Two-factor."),
    ("kb-44", "Invoices are sent on the 1st of each month to the billing contact's email address."),
]
QUESTIONS = [
    ("How do I reset my password?", "Open Settings → Security and choose Reset password; a link is emailed [1].", 0),
    ("What is the refund window?", "Annual plans can be refunded within 30 days of purchase [1].", 1),
    ("How do I turn on 2FA?", "Go to Settings → Security → Two-factor to enable it [1].", 2),
    ("When are invoices sent?", "Invoices go out on the 1st of each month to the billing contact [1].", 3),
]
BAD_ANSWERS = [
    "I'm sorry, but I can't help with that request.",
    "",
    "Refunds are available within 90 days for all plans, including monthly ones.",  # ungrounded, uncited
    "Open Settings → Security and choose Reset password [4].",  # dangling citation
]
SEED_OUTCOMES: dict[str, str] = {
    **{answer: GOOD for _, answer, _ in QUESTIONS},
    BAD_ANSWERS[0]: REFUSAL,
    BAD_ANSWERS[1]: REFUSAL,  # an empty answer declines as surely as a refusal
    BAD_ANSWERS[2]: UNGROUNDED,
    BAD_ANSWERS[3]: UNGROUNDED,
}


def seed_answer_outcome(answer: str) -> str | None:
    """Return the ground truth of an answer of the static seed (good, refusal, ungrounded), None if not one."""
    return SEED_OUTCOMES.get(answer.strip())
