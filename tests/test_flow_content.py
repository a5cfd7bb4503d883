"""What the shipped flow says, checked as a caller in distress would hear it.

Each test pins one promise of the content: a way out in every language for callers who choose
none, prompts that never promise what the configuration cannot do, 112 for self-harm and
overdoses, no prevalence figures or claims that could not be checked, and every number a caller
can hear, against a table written here by hand (not read from the config it checks).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.model import Catalog
from ivr.review_script import script
from ivr.settings import Settings
from support import (
    DATA,
    ROOT,
    SHIPPED_CONFIG,
    SHIPPED_FLOWS,
    TwilioClient,
    TwiML,
    app_for,
    config_copy,
    digits_in,
    with_transfer_targets,
)

SAY_LANGUAGES = {"nl-BE": "nl", "fr-BE": "fr", "de-DE": "de", "en-GB": "en"}
# Every number a caller can hear, as the services publish them (docs/callers-journey.md, "The shipped flow", gives the sources).
PUBLISHED = {
    "tele_onthaal": "106",
    "tele_accueil": "107",
    "telefonhilfe": "108",
    "zelfmoordlijn": "1813",
    "prevention_suicide": "0800 32 123",
    "community_help_service": "02 648 40 14",
    "emergency": "112",
}
LINE_OF = {"nl": "106", "fr": "107", "de": "108", "en": "026484014"}


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)


def said(catalog: Catalog, lang: str) -> list[str]:
    return [line.text for line in script(catalog, catalog.flows["helpline"], lang)]


def says(answer: TwiML) -> list[tuple[str, str]]:
    """(language, digits) of each <Say>, in order."""
    return [(SAY_LANGUAGES[s.attrib["language"]], digits_in(s.text or "")) for s in answer.root.iter("Say")]


# --- 1. a caller who chooses no language ----------------------------------------------------------


def test_a_silent_caller_hears_every_language_line_and_112(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    twilio = app_for(settings, tmp_path)
    answer = valid_twiml(twilio.post("/voice"))
    answer = valid_twiml(twilio.follow(answer.redirect()))  # silence once: no second welcome
    assert says(answer) == [("nl", "106112"), ("fr", "107112"), ("de", "108112"), ("en", "026484014112")]


def test_zero_at_the_welcome_hears_every_language_line_and_112(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    twilio = app_for(settings, tmp_path)
    welcome = valid_twiml(twilio.post("/voice"))
    answer = valid_twiml(twilio.follow(welcome.gather_action(), "0"))
    assert says(answer) == [("nl", "106112"), ("fr", "107112"), ("de", "108112"), ("en", "026484014112")]
    # a language key still chooses, even now
    english = valid_twiml(twilio.follow(answer.gather_action(), "4"))
    assert english.state()["lang"] == "en" and english.state()["node"] == "first_menu"


def test_ivr_simulate_shows_the_silent_path_in_every_language() -> None:
    result = CliRunner().invoke(main, ["simulate", "--keys", ",,,"])
    assert result.exit_code == 0, result.output
    heard = digits_in(result.output.split("every_line", 1)[1])
    for number in ("106", "107", "108", "026484014", "112"):
        assert number in heard, result.output


# --- 2. what 0 does, said truly -------------------------------------------------------------------


def first_menu(twilio: TwilioClient, key: str, valid_twiml: Callable[[TwiML], TwiML]) -> str:
    welcome = valid_twiml(twilio.post("/voice"))
    return valid_twiml(twilio.follow(welcome.gather_action(), key)).spoken()


def test_without_transfer_targets_0_is_offered_at_any_time_and_the_number_follows(
    settings: Settings, tmp_path: Path, valid_twiml
) -> None:
    twilio = app_for(settings, tmp_path)
    heard = {key: first_menu(twilio, key, valid_twiml) for key in "1234"}
    assert heard["1"].startswith("Om nu met iemand te praten, druk op 0. Of bel zelf Tele-Onthaal")
    assert heard["2"].startswith("Pour parler à quelqu'un, appuyez sur 0. Ou appelez vous-même Télé-Accueil")
    assert heard["3"].startswith("Um mit jemandem zu sprechen, drücken Sie die 0. Oder rufen Sie selbst die Telefonhilfe")
    assert heard["4"].startswith("To talk to someone, press 0. Or call the Community Help Service yourself")
    for key, text in heard.items():
        assert "verbinden" not in text and "relation" not in text and "put you through" not in text
        line = LINE_OF["nlfrdeen"[2 * int(key) - 2 : 2 * int(key)]]
        # the line's number and 112 come before the options (F6)
        assert digits_in(text).index(line) < digits_in(text).index("112") < digits_in(text).index("5")


def test_with_transfer_targets_0_is_offered_as_a_try_to_connect(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    twilio = app_for(settings, tmp_path, config_copy(tmp_path, with_transfer_targets))
    heard = {key: first_menu(twilio, key, valid_twiml) for key in "1234"}
    assert heard["1"].startswith("Om te proberen iemand te bereiken, druk op 0")
    assert heard["2"].startswith("Pour essayer de joindre quelqu'un, appuyez sur 0")
    assert heard["3"].startswith("Um zu versuchen, jemanden zu erreichen, drücken Sie die 0")
    assert heard["4"].startswith("To try to reach someone, press 0")


def test_a_flow_without_the_wording_for_a_reachable_mode_is_refused(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(DATA / "wording" / "no_connect_wording.yaml", flows / "mini.yaml")
    no_targets = tmp_path / "config"
    shutil.copytree(DATA / "config", no_targets)
    helplines = no_targets / "helplines.yaml"
    helplines.write_text(re.sub(r"\n +transfer_to: .*", "", helplines.read_text(encoding="utf-8")), encoding="utf-8")
    load_catalog(no_targets, flows)  # nobody can hear the connect wording: fine
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)  # Tele-Onthaal has targets here: Dutch callers would hear it
    (error,) = caught.value.errors
    assert error.mark.line == 25 and error.path == "nodes.main.prompt[0].connect"
    assert "no wording for when the talk-now key tries to connect, which nl callers hear" in error.message


def test_a_plain_text_that_offers_the_talk_now_key_is_refused(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(DATA / "wording" / "plain_talk_now.yaml", flows / "mini.yaml")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)
    (error, *_) = caught.value.errors
    assert (error.mark.line, error.path) == (24, "nodes.main.prompt.nl")
    assert "offers the talk-now key" in error.message and "connect:" in error.hint


# --- 3, 4. the suicide line and 112 ---------------------------------------------------------------


def test_the_german_suicide_sentence_gives_the_telefonhilfe_number(shipped: Catalog) -> None:
    (sentence,) = [text for text in said(shipped, "de") if "Suizid" in text]
    assert "Telefonhilfe" in sentence and "1 0 8" in sentence


SELF_HARM_AND_OVERDOSE = {
    "nl": ("jezelf verwond", "overdosis"),
    "fr": ("fait du mal", "surdose"),
    "de": ("sich selbst verletzt", "Überdosis"),
    "en": ("harmed yourself", "overdose"),
}
# Wherever 112 is said after the first menu, with its conditions too (F10).
CONDITIONS = {
    "nl": "Bij levensgevaar, zelfverwonding of een overdosis",
    "fr": "Vie en danger, blessure volontaire ou surdose",
    "de": "Bei Lebensgefahr, Selbstverletzung oder Überdosis",
    "en": "For danger to life, self-harm or an overdose",
}
HANG_UP_AND_CALL_NOW = {
    "nl": "Je kan nu ophangen en bellen.",
    "fr": "Vous pouvez raccrocher et appeler maintenant.",
    "de": "Sie können jetzt auflegen und anrufen.",
    "en": "You can hang up and call now.",
}


@pytest.mark.parametrize("lang", SELF_HARM_AND_OVERDOSE)
def test_112_is_named_for_self_harm_and_overdoses_and_again_after_the_number(
    lang: str, settings: Settings, tmp_path: Path, valid_twiml
) -> None:
    twilio = app_for(settings, tmp_path)
    welcome = valid_twiml(twilio.post("/voice"))
    menu = valid_twiml(twilio.follow(welcome.gather_action(), "1234"[list(SELF_HARM_AND_OVERDOSE).index(lang)]))
    (danger,) = [s.text or "" for s in menu.root.iter("Say") if "1 1 2" in (s.text or "")]
    assert all(word in danger for word in SELF_HARM_AND_OVERDOSE[lang]), danger
    line = valid_twiml(twilio.follow(menu.gather_action(), "0"))
    texts = [s.text or "" for s in line.root.iter("Say")]
    (again,) = [text for text in texts if "1 1 2" in text]
    assert again.startswith(HANG_UP_AND_CALL_NOW[lang]) and CONDITIONS[lang] in again and again.endswith("1 1 2.")
    every_line = valid_twiml(twilio.follow(welcome.gather_action(), "0"))
    assert CONDITIONS[lang] in every_line.spoken()


# --- 5, 6. nothing untrue, nothing that presumes ---------------------------------------------------

UNTRUE_OR_PRESUMING = re.compile(
    r"(19|20)[0-9]{2}|één op de drie|une personne sur trois|jeder dritte|one in three|Es geht vielen so|"
    r"luistercaf|café d'écoute|cafés d'écoute|Zuhörcaf|listening caf|gehoord|feel heard|not the only one|"
    r"niet de enige|cas isolé",
    re.IGNORECASE,
)


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_no_prevalence_figure_and_no_claim_that_could_not_be_checked(shipped: Catalog, lang: str) -> None:
    found = [text for text in said(shipped, lang) if UNTRUE_OR_PRESUMING.search(text)]
    assert found == []


# --- 7. the way to a person first -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_talking_to_someone_comes_first_and_the_exercise_can_stop(shipped: Catalog, lang: str) -> None:
    lines = script(shipped, shipped.flows["helpline"], lang)
    for node in ("first_menu", "main"):
        first = next(line for line in lines if line.node == node)
        assert re.search(r"(?<!\w)0(?!\w)", first.text), first.text
    for node in ("kinds_of_help", "first_step", "breathing", "grounding"):
        after = next(line for line in lines if line.node == node and line.part.startswith("after the message"))
        keys = re.findall(r"(?<!\w)[09](?!\w)", after.text)
        assert keys == ["0", "9"], after.text  # 0 (talk) before 9 (hear it again)
    breathing = next(line.text for line in lines if line.node == "breathing")
    assert {"nl": "stoppen", "fr": "arrêter", "de": "aufhören", "en": "stop"}[lang] in breathing


# --- 8, 9. wording that sounds native and says only what is true ---------------------------------


def test_wording_fixes(shipped: Catalog) -> None:
    everything = {lang: " ".join(said(shipped, lang)) for lang in ("nl", "fr", "de", "en")}
    assert "schauen Sie sich" in everything["de"]
    for phrase in ("één op één", "niet alleen uit te zoeken", "brengt je terug"):
        assert phrase not in everything["nl"]
    for phrase in ("en solitaire", "ne mène nulle part", "écoutera", "tapez", "Personne ne devrait"):
        assert phrase not in everything["fr"]  # F4: no certain future; one verb for keys
    for phrase in ("Auch wenn", "Stern-Taste", "hilft Ihnen,"):
        assert phrase not in everything["de"]  # F13; "Sterntaste"; "kann helfen" like the others
    for phrase in ("commit", "Service too.", "is online at", "c h s belgium dot org", "brings you back"):
        assert phrase not in everything["en"]  # F15; F1; F7: no written channel for the Community Help Service
    # English voices mangle Dutch and French names, and "in Brussels" would turn callers elsewhere away
    for phrase in ("Brussels", "Onthaal", "Accueil"):
        assert phrase not in everything["en"]
    # web addresses are said in words, never spelt as ".be" or ".org"
    for lang, text in everything.items():
        assert not re.search(r"\w\.(be|org)\b", text), lang
    assert "tele onthaal punt b e" in everything["nl"]


CHATS = {  # F8: the chat with its hours, on the crisis path, for callers who cannot talk
    "nl": "Als je nu niet kan praten: Tele-Onthaal heeft ook een chat, 's avonds, op tele onthaal punt b e.",
    "fr": "Si vous ne pouvez pas parler maintenant, Télé-Accueil a aussi un tchat, l'après-midi et le soir, "
    "sur télé accueil point b e.",
    "de": "Wenn Sie gerade nicht sprechen können: Die Telefonhilfe hat auch einen Chat, zu bestimmten Zeiten, "
    "auf telefonhilfe punkt b e.",
}
BUSY = {  # F4: what to do when a line is busy or nobody answers, with the paired line
    "nl": "Is het bezet, of neemt niemand op, bel dan gerust opnieuw, of bel de Zelfmoordlijn op 1 8 1 3.",
    "fr": "Si c'est occupé ou si personne ne répond, rappelez, ou appelez le Centre de Prévention du Suicide "
    "au 0 8 0 0, 3 2, 1 2 3.",
    "de": "Wenn besetzt ist oder niemand abnimmt, rufen Sie bitte später noch einmal an.",
    "en": "If it's busy or nobody answers, try again, or call the Dutch-language line on 1 0 6 "
    "or the French-language line on 1 0 7, free, day and night.",
}


@pytest.mark.parametrize("lang", ["nl", "fr", "de", "en"])
def test_the_line_says_what_to_do_when_busy_and_where_to_write(shipped: Catalog, lang: str) -> None:
    line = [text.text for text in script(shipped, shipped.flows["helpline"], lang) if text.node == "listening_line"]
    assert BUSY[lang] in line
    if lang in CHATS:
        assert CHATS[lang] in line
    else:
        assert not any("chat" in text for text in line)
    # F1: the English suicide sentence carries the Community Help Service's number
    suicide = [text for text in said(shipped, lang) if re.search("zelfdoding|suicide|Suizid", text)]
    assert suicide and all(re.search(r"[0-9] [0-9]", text) for text in suicide), suicide


def test_the_english_line_is_never_called_free(shipped: Catalog) -> None:
    for text in said(shipped, "en"):
        if "0 2, 6 4 8, 4 0, 1 4" in text:
            assert "free" not in text.lower(), text
    helplines = (SHIPPED_CONFIG / "helplines.yaml").read_text(encoding="utf-8")
    assert "02 616 26 26" in helplines  # the unconfirmed new number stays noted, not used


# --- 10. every number a caller can hear, pinned ---------------------------------------------------


def test_every_number_is_the_published_one(shipped: Catalog) -> None:
    assert {line_id: line.number for line_id, line in shipped.helplines.items()} == PUBLISHED


@pytest.mark.parametrize(
    ("lang", "numbers"),
    [
        ("nl", {"106", "112", "1813"}),
        ("fr", {"107", "112", "080032123"}),
        ("de", {"108", "112"}),
        ("en", {"026484014", "112", "106", "107"}),
    ],
)
def test_each_language_says_exactly_these_numbers(shipped: Catalog, lang: str, numbers: set[str]) -> None:
    """Every number in the language's whole script (menus, messages, the line, the rescue), and no other."""
    spoken = {digits_in(n) for line in script(shipped, shipped.flows["helpline"], lang) for n in line.numbers}
    assert spoken == numbers
    listening_line = [line.text for line in script(shipped, shipped.flows["helpline"], lang) if line.node == "listening_line"]
    assert sum(digits_in(text).count(LINE_OF[lang]) for text in listening_line) == 2  # said twice


@pytest.mark.parametrize("digits", ["12", "10", "00", "1#", "٣"])
def test_more_than_one_key_is_a_wrong_key_not_the_first(settings: Settings, tmp_path: Path, valid_twiml, digits: str) -> None:
    twilio = app_for(settings, tmp_path)
    welcome = valid_twiml(twilio.post("/voice"))
    menu = valid_twiml(twilio.follow(welcome.gather_action(), "1"))
    answer = valid_twiml(twilio.follow(menu.gather_action(), digits))
    assert answer.state()["node"] == "first_menu" and answer.state()["wk"] == "1", answer.body
    assert answer.spoken().startswith("Die toets doet hier niets.")


# --- the script for native reviewers --------------------------------------------------------------


def test_the_review_script_in_docs_is_what_ivr_prompts_prints_now() -> None:
    result = CliRunner().invoke(main, ["prompts"])
    assert result.exit_code == 0, result.output
    # Printed from the suite's copy of the shipped flow; the page names the shipped file.
    printed = result.output.replace(f"{SHIPPED_FLOWS.relative_to(ROOT)}/", "ivr/flows/", 1)
    assert (ROOT / "docs" / "prompts.md").read_text(encoding="utf-8") == printed, (
        "docs/prompts.md is out of date: regenerate it with `ivr prompts > docs/prompts.md`"
    )
    for heading in ("## Nederlands (nl): Tele-Onthaal 106", "## English (en): Community Help Service 02 648 40 14"):
        assert heading in result.output
    # in call order: the welcome first, the rescue (the fallback's text) last
    dutch = result.output.split("## Nederlands")[1].split("## Français")[0].splitlines()
    rows = [row for row in dutch if row.startswith("| ") and not row.startswith("| node")]
    assert rows[0].startswith("| welcome | start of the call | prompt | Voor Nederlands, druk 1.")
    assert any(row.startswith("| rescue | any error, and the Voice Fallback URL | rescue |") for row in rows)
    assert rows[-1].startswith("| rescue | before the rescue rings the line | rescue | We proberen je nu door te verbinden")
    assert any(row.startswith("| crisis | words of crisis, where speech is on | crisis |") for row in rows)
    assert any("| prompt (when 0 connects) |" in row for row in rows) and any("re-prompt after silence" in row for row in rows)


def test_ivr_prompts_writes_a_printable_page(tmp_path: Path) -> None:
    page = tmp_path / "prompts.html"
    result = CliRunner().invoke(main, ["prompts", "-o", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.count("<section lang=") == 4
    assert "Bei Lebensgefahr" in text and "page-break-before" in text


@pytest.mark.slow
def test_every_budget_holds_with_built_espeak_audio_too(tmp_path: Path) -> None:
    """The budgets hold on the real lengths of built audio (the offline voice, slower than Twilio's), not only on estimates."""
    audio = tmp_path / "audio"
    built = CliRunner().invoke(main, ["audio", "build", "--engine", "espeak", "--audio-dir", str(audio), "--jobs", "2"])
    assert built.exit_code == 0, built.output
    result = CliRunner().invoke(main, ["validate", "--audio", "--audio-dir", str(audio)])
    assert result.exit_code == 0, result.output
    assert "(built audio where there is some, else estimated from words per second)" in result.output
    rows = re.findall(r"^    (nl|fr|de|en)(?:, no language chosen)?: .* → ([0-9.]+) s", result.output, re.M)
    assert len(rows) == 24, result.output  # five budgets, four languages, and any_behaviour before a language too
