"""Number, unit and date normalisation: equal facts compare equal, different ones do not."""

from __future__ import annotations

import pytest

from apps.evaluators.checks.quantities import (
    Quantity,
    counterpart,
    extract_quantities,
    parse_number,
    quantity_found,
    spell_out_numbers,
)


def amounts(text: str) -> list[tuple[str, float]]:
    """(dimension, value in base units) of every quantity in text."""
    return [(q.dim, round(q.value, 6)) for q in extract_quantities(text)]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("three quarters of an hour", "45 minutes"),
        ("1.3 kilograms", "1.3 kg"),
        ("1,3 kg", "1300 g"),
        ("5–7 business days", "5 to 7 days"),
        ("five to seven days", "5-7 days"),
        ("half an hour", "30 min"),
        ("an hour and a half", "90 minutes"),
        ("within a day", "within 24 hours"),
        ("two weeks", "14 days"),
        ("24 mesi", "2 anni"),
        ("thirty percent", "30%"),
        ("30 por ciento", "30 %"),
        ("$14.99", "14.99 USD"),
        ("9,95 €", "9.95 euros"),
        ("€10,000", "10000 EUR"),
        ("2 GB", "2000 MB"),
        ("10 meters", "10 metres"),
        ("dos semanas", "14 días"),
        ("deux heures et demie", "150 minutes"),
        ("zwei bis vier Werktage", "2 bis 4 Tage"),
    ],
)
def test_equal_quantities_normalise_alike(one: str, other: str) -> None:
    assert amounts(one) == amounts(other), (extract_quantities(one), extract_quantities(other))


@pytest.mark.parametrize(
    ("one", "other"),
    [("10 hours", "14 hours"), ("10 hours", "10 minutes"), ("5 kg", "5 lb"), ("$50", "€50"), ("2 GB", "2 TB")],
)
def test_different_quantities_stay_different(one: str, other: str) -> None:
    assert amounts(one) != amounts(other)


@pytest.mark.parametrize(
    "text",
    ["March 3, 2025", "3 March 2025", "2025-03-03", "3rd of March, 2025", "3 de marzo de 2025", "3. März 2025"],
)
def test_dates_in_any_common_form_are_the_same_day(text: str) -> None:
    assert ("date", 20250303) in amounts(text)


def test_a_month_matches_a_day_in_it_and_a_year_matches_a_full_date() -> None:
    source = extract_quantities("The policy changed on March 3, 2025.")
    assert quantity_found(extract_quantities("in March 2025")[0], source)
    assert quantity_found(extract_quantities("in 2025")[0], source)
    assert not quantity_found(extract_quantities("in April 2025")[0], source)


def test_clock_times() -> None:
    assert amounts("open 9am to 5:30 pm") == [("clock", 540), ("clock", 1050)]
    assert amounts("at 17:30") == [("clock", 1050)]


@pytest.mark.parametrize(
    ("token", "value"),
    [("1,299.50", 1299.5), ("1.299,50", 1299.5), ("1,3", 1.3), ("1,300", 1300), ("14.99", 14.99), ("1.000.000", 1e6)],
)
def test_parse_number_reads_separators_like_a_reader(token: str, value: float) -> None:
    assert parse_number(token) == pytest.approx(value)


def test_spelt_numbers_become_digits_but_pronoun_one_does_not() -> None:
    assert spell_out_numbers("twenty-five users and two thousand five hundred seats") == "25 users and 2500 seats"
    assert spell_out_numbers("one of the routers") == "one of the routers"
    assert spell_out_numbers("one hour") == "1 hour"
    assert spell_out_numbers("someone") == "someone"


def test_a_count_is_checked_against_the_same_thing_only() -> None:
    source = extract_quantities("Passwords must be at least 12 characters. Sessions expire after 8 hours.")
    assert not quantity_found(extract_quantities("8 characters")[0], source)
    assert quantity_found(extract_quantities("12 characters")[0], source)
    ports = extract_quantities("The router has four gigabit ports.")
    assert quantity_found(extract_quantities("4 ports")[0], ports)  # counts of differently named things


def test_a_bare_number_in_the_source_supports_a_unit_only_when_no_amount_of_that_kind_is_there() -> None:
    assert quantity_found(extract_quantities("14 hours")[0], extract_quantities("Battery life (hours): 14"))
    assert not quantity_found(extract_quantities("14 hours")[0], extract_quantities("14 devices, 10 hours"))


def test_counterpart_names_what_the_source_says_instead() -> None:
    source = extract_quantities("Battery life is up to 14 hours.")
    other = counterpart(extract_quantities("10 hours")[0], source)
    assert isinstance(other, Quantity) and other.text == "14 hours"


def test_text_without_numbers_costs_nothing() -> None:
    assert extract_quantities("The router supports mesh networking.") == ()
    assert extract_quantities("v2 of the x86 build") == ()
