"""Negation detection in seven languages, the phrases that only look negative, and what a negation governs."""

from __future__ import annotations

import pytest

from apps.evaluators.checks.negation import is_negated, negated_span, negation_cues


@pytest.mark.parametrize(
    "text",
    [
        "Accidental damage is not covered.",
        "We don't ship to P.O. boxes.",
        "Opened software is non-refundable.",
        "Never charge the case while it is wet.",
        "No realizamos envíos a Canarias.",
        "Los productos personalizados no admiten devolución.",
        "Les remboursements partiels ne sont pas possibles.",
        "Le support téléphonique n'est jamais proposé.",
        "Wasserschäden sind nicht abgedeckt.",
        "Es gibt keine Rückerstattung.",
        "Não há reembolso para meses já pagos.",
        "La garanzia non copre i danni da liquidi.",
        "Op zondag wordt er niet bezorgd.",
        "Er zijn geen kosten voor retourneren.",
        "Bicycles cannot travel without a reservation.",
    ],
)
def test_negated_sentences(text: str) -> None:
    assert is_negated(text), negation_cues(text)


@pytest.mark.parametrize(
    "text",
    [
        "Accidental damage is covered.",
        "Returns must arrive no later than 30 days after delivery.",
        "Shipping is included at no extra cost.",
        "Not only routers but also switches are covered.",
        "El envío es gratuito.",
        "La résiliation prend effet à la fin de la période.",
        "Der Akku hält bis zu 14 Stunden.",
        "As senhas devem ter no mínimo 10 caracteres.",  # Portuguese "no" is "in the"
        "Tutti i prodotti hanno una garanzia di 24 mesi.",
        "Bestellingen worden binnen 2 werkdagen bezorgd.",
        "Im Mai ist der Shop geöffnet.",
    ],
)
def test_affirmative_sentences(text: str) -> None:
    assert not is_negated(text), negation_cues(text)


def test_a_negation_governs_its_clause_only() -> None:
    assert negated_span("Accidental damage is not covered by the warranty.") == ("covered", "by", "the", "warranty")
    span = negated_span("Webhooks are queued, not dropped, and are delivered within 30 minutes.")
    assert span == ("dropped",)
    assert negated_span("The platform can be wiped clean but is not dishwasher safe.") == ("dishwasher", "safe")


def test_a_preposition_negates_the_phrase_after_it() -> None:
    assert negated_span("Without a PIN, contactless payments are limited to €50.") == ("a", "pin")
    assert negated_span("No realizamos envíos a Canarias, Ceuta ni Melilla.")[-1] == "melilla"
