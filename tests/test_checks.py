"""Numbers typed by hand in prompt text are refused, in every script and spelling; keys, years and percentages are not."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ivr.number_guard import ARTICLES, DIGIT_WORDS, SEPARATORS, typed_numbers

LINES = {"106": "tele_onthaal", "107": "tele_accueil", "112": "emergency", "1813": "zelfmoordlijn", "2023": "test_line"}


def problems(text: str) -> list[tuple[str, str]]:
    return typed_numbers([(text, False)], LINES)


REFUSED = [
    "Bel 1-0-5.",
    "Bel 1, 0, 5.",
    "Bel 1,0,5.",
    "Bel １０５.",  # full-width
    "Bel 1 0  5.",
    "Bel 10-5.",
    "Bel één nul vijf.",
    "Appelez un zéro sept.",
    "Rufen Sie eins null acht an.",
    "Call one oh... no: one zero six, nine.",
    "Bel ١٠٥.",  # Arabic-Indic
    "Bel ۱۰۵.",  # Extended Arabic-Indic
    "Bel १०५.",  # Devanagari
    "Bel 1\u200b0\u200b6.",  # zero-width spaces
    "Bel 1\u00a00\u00a06.",  # no-break spaces
    "Bel 1/0/6.",
    "Bel 1.0.6.",
    "Bel 1–0–6.",  # en dashes
    "Bel 1／0／6.",  # full-width slashes
    "Bel 10.",
    "Bel 02 648 40 14.",
    "Five… four… three…",
    "Count 5-4-3-2-1.",
    "Druk 1, 2 of 3.",
    "Eén. Twee.",
    "Bel een, een.",
    "Call one one two.",
    "Bel een 0 6.",
    "Bel een, een, 5.",
    "Bel 1813.",
    "In 2024 belden 106% meer mensen.",  # a percentage that is a line's number
    "Bel 2023.",  # a year that is a line's number
    "13 4%",
]

ACCEPTED = [
    "Druk op 1 voor Nederlands.",
    "Druk op 1. Over praatgroepen: druk op 2. Een korte ademhalingsoefening: druk op 3.",
    "Appuyez sur 2. Une autre fois, appuyez sur 3.",
    "Bij individuele therapie praat je één op één met een psycholoog.",
    "Probeer gewoon eens één sessie.",
    "Nog één keer. In.",
    "In 2024 zei bijna één op de drie mensen in België dat ze het moeilijk hadden.",
    "In 2024, 13% of people said so; in 2019, 9 %.",
    "Près de 13 pour cent, soit 13 procent, 13 Prozent, 13 percent.",
    "Individual therapy is one to one. One in three people feel it.",
    "Es gibt ein, zwei Dinge, die helfen.",
    "Press 1 or 2, or 0 to talk to someone.",
    "Druk 2, een keer.",
    "Choose a 2 or one 3.",
    "Tele-Onthaal, Télé-Accueil.",
]


@pytest.mark.parametrize("text", REFUSED)
def test_a_number_typed_by_hand_is_refused(text: str) -> None:
    assert problems(text), text


@pytest.mark.parametrize("text", ACCEPTED)
def test_keys_words_years_and_percentages_are_accepted(text: str) -> None:
    assert problems(text) == []


def test_a_helpline_number_is_named_with_its_placeholder() -> None:
    ((message, hint),) = problems("Bel 1 0 6.")
    assert message == "the prompt says the number '1 0 6' literally (the number of tele_onthaal)"
    assert hint == "write {number:tele_onthaal}"
    ((message, hint),) = problems("Sinds 2023.")
    assert "'2023', the number of test_line" in message and hint == "write {number:test_line}"


def test_a_placeholder_says_its_number_but_digits_beside_it_are_refused() -> None:
    assert typed_numbers([("Bel ", False), ("1 0 6", True), (".", False)], LINES) == []
    assert typed_numbers([("Bel ", False), ("0 2, 6 4 8, 4 0, 1 4", True), (", dag en nacht.", False)], LINES) == []
    ((message, _),) = typed_numbers([("Bel ", False), ("1 0 6", True), (" 5.", False)], LINES)
    assert message == "digits next to a placeholder: a caller hears '1 0 6 5' as one number"
    assert typed_numbers([("1 0 6", True), (", ", False), ("1 0 7", True)], LINES)  # two numbers heard as one
    assert typed_numbers([("Druk ", False), ("0", True), (", 1.", False)], LINES)  # {key:talk_now}, 1


def test_a_digit_other_than_0_to_9_is_refused_even_alone() -> None:
    (_, (message, hint)) = problems("Druk ١.") + problems("Druk 1.") + problems("Druk ５ of ١.")
    assert "ARABIC-INDIC DIGIT ONE" in message and "0-9" in hint


# Each digit as any of its forms, joined by any separator: never accepted.
DIGIT_FORMS = {
    d: [d, chr(0xFF10 + int(d)), chr(0x0660 + int(d)), chr(0x0966 + int(d)), *(w for w, v in DIGIT_WORDS.items() if v == d)]
    for d in "0123456789"
}
JOINS = st.lists(
    st.sampled_from([" ", "  ", ",", ", ", ".", ". ", "-", " - ", "/", "\u200b", "\u00a0", *SEPARATORS]), min_size=1, max_size=3
)


@pytest.mark.slow
@given(
    digits=st.text(alphabet="0123456789", min_size=2, max_size=10),
    data=st.data(),
    before=st.sampled_from(["", "Bel ", "Appelez le ", "Call ", "Wählen Sie "]),
    after=st.sampled_from(["", ".", " nu.", ", dag en nacht.", " maintenant !"]),
)
def test_any_run_of_digits_in_any_form_is_refused(digits: str, data: st.DataObject, before: str, after: str) -> None:
    forms = [data.draw(st.sampled_from(DIGIT_FORMS[d])) for d in digits]
    # The one exception: a single digit beside "een", "un", "une" or "one" reads as an article ("druk 2, een keer").
    assume(not (len(forms) == 2 and any(len(f) == 1 for f in forms) and any(f in ARTICLES for f in forms)))
    joins = ["".join(data.draw(JOINS)) for _ in forms[1:]]
    text = before + forms[0] + "".join(j + f for j, f in zip(joins, forms[1:], strict=True)) + after
    assert problems(text), text


# Numbers spelled in words, in the text's own language: runs, values of 100 or more, a line's number.
SPELLED_REFUSED = [
    ("nl", "Bel honderdvijf."),
    ("nl", "Bel honderd vijf."),
    ("nl", "Bel honderd en vijf."),
    ("nl", "Bel tien-vijf."),
    ("nl", "Bel tweehonderd."),
    ("nl", "Bel honderdenzes."),
    ("nl", "Bel twaalf 3."),
    ("fr", "Appelez cent sept."),
    ("fr", "Appelez le cent six."),
    ("fr", "Appelez dix, sept."),
    ("de", "Rufen Sie hundertfünf an."),
    ("de", "Wählen Sie zehn fünf."),
    ("en", "Call one hundred and six."),
    ("en", "Call one oh six."),
    ("en", "Call twenty-one twelve."),
]
SPELLED_ACCEPTED = [
    ("nl", "Vier ogen zien meer dan twee."),
    ("nl", "Het kost je geen cent."),
    ("nl", "De eerste twee minuten zijn het moeilijkst."),
    ("nl", "Vierentwintig uur op vierentwintig."),
    ("fr", "Vos cinq sens vous aident."),
    ("fr", "Vingt-quatre heures sur vingt-quatre, avec dix-sept bénévoles."),
    ("fr", "Les deux premières minutes. Près de treize pour cent."),
    ("de", "Fünf Dinge, die Sie sehen."),
    ("en", "One last time."),
    ("en", "Oh, one more thing."),
    ("en", "Twenty-five minutes."),
]


@pytest.mark.parametrize(("lang", "text"), SPELLED_REFUSED)
def test_a_number_spelled_in_words_is_refused(lang: str, text: str) -> None:
    assert typed_numbers([(text, False)], LINES, lang), text


@pytest.mark.parametrize(("lang", "text"), SPELLED_ACCEPTED)
def test_a_single_number_word_stays_allowed(lang: str, text: str) -> None:
    assert typed_numbers([(text, False)], LINES, lang) == []


def test_a_spelled_line_number_is_named_with_its_placeholder() -> None:
    assert typed_numbers([("Appelez cent sept.", False)], LINES, "fr") == [
        ("the prompt spells 'cent sept', the number of tele_accueil", "write {number:tele_accueil}")
    ]
    ((message, hint),) = typed_numbers([("Bel honderdvijf.", False)], LINES, "nl")
    assert message == "the prompt spells the number 'honderdvijf' (105)" and "{number:ID}" in hint


@pytest.mark.parametrize("text", ["Bel 1️⃣0️⃣5️⃣.", "Bel 1 o 5.", "Bel 1 Ｏ 5."])
def test_keycaps_and_o_for_zero_join_a_run(text: str) -> None:
    assert problems(text), text
