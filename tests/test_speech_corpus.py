"""What callers say, and where the shipped flow takes them: a corpus of utterances per language, through the
signed webhook with speech on (tests/data/speech/corpus.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ivr.settings import Settings
from support import DATA, TwilioClient, TwiML, app_for, config_copy, shipped_settings, with_speech_on

CORPUS = yaml.safe_load((DATA / "speech" / "corpus.yaml").read_text(encoding="utf-8"))
KEYS = {"nl": "1", "fr": "2", "de": "3", "en": "4"}
LINES = {"nl": "1 0 6", "fr": "1 0 7", "de": "1 0 8", "en": "0 2, 6 4 8, 4 0, 1 4"}
NOT_UNDERSTOOD = {
    "nl": "Sorry, dat was niet goed te verstaan.",
    "fr": "Désolé, ce n'était pas clair.",
    "de": "Entschuldigung, das war nicht gut zu verstehen.",
    "en": "Sorry, that wasn't clear.",
}


def cases() -> Iterator[tuple[str | None, str, str]]:
    for words, where in CORPUS["welcome"].items():
        yield None, words, where
    for lang, said in CORPUS["first_menu"].items():
        for words, where in said.items():
            yield lang, words, where


@pytest.fixture(scope="module")
def speaking(tmp_path_factory: pytest.TempPathFactory) -> TwilioClient:
    tmp = tmp_path_factory.mktemp("corpus")
    return app_for(shipped_settings(tmp), tmp, config_copy(tmp, with_speech_on))


def say(twilio: TwilioClient, answer: TwiML, words: str, confidence: str) -> TwiML:
    return twilio.follow(answer.gather_action(), SpeechResult=words, Confidence=confidence)


def test_the_corpus_has_at_least_25_utterances_per_language_with_crisis_statements_and_the_options_names() -> None:
    for lang, said in CORPUS["first_menu"].items():
        assert len(said) >= 25, lang
        destinations = list(said.values())
        assert destinations.count("crisis") >= 8, lang
        assert {"kinds_of_help", "first_step", "breathing", "grounding", "listening_line", "not understood"} <= set(destinations)


@pytest.mark.parametrize(("lang", "words", "where"), list(cases()), ids=lambda v: str(v))
def test_what_a_caller_says_leads_where_the_corpus_says(speaking: TwilioClient, lang: str | None, words: str, where: str) -> None:
    welcome = speaking.post("/voice")
    assert welcome.status == 200
    answer = welcome if lang is None else speaking.follow(welcome.gather_action(), KEYS[lang])
    # Words of crisis win over the confidence threshold: the recogniser's doubt never sends them away.
    for confidence in ("0.92", "0.2") if where == "crisis" else ("0.92",):
        heard = say(speaking, answer, words, confidence)
        assert heard.status == 200, heard.body
        state = heard.state()
        if where == "crisis":
            assert lang is not None
            first = heard.root[0]
            assert first.tag == "Say" and "1 1 2" in (first.text or "") and LINES[lang] in (first.text or ""), heard.body
            assert state["node"] == "listening_line" and state["lang"] == lang
        elif where == "not understood":
            assert lang is not None
            assert heard.texts()[0] == NOT_UNDERSTOOD[lang], heard.body
            assert (state["node"], state["lang"], state["wk"]) == ("first_menu", lang, "1")
            spoken = heard.texts()[0].casefold()
            assert "toets" not in spoken and "touche" not in spoken and "taste" not in spoken and "key" not in spoken
        elif where.startswith("first_menu "):
            assert (state["node"], state["lang"]) == ("first_menu", where.split()[1])
        else:
            assert state["node"] == where, heard.body
            if lang is not None:
                assert state["lang"] == lang


def test_no_menu_asks_a_yes_no_question_where_speech_is_on(speaking: TwilioClient) -> None:
    """'ja', 'oui', 'yes' lead nowhere defined, so no menu a speaking caller hears asks a question."""
    welcome = speaking.post("/voice")
    for lang, key in KEYS.items():
        menu = speaking.follow(welcome.gather_action(), key)
        assert "?" not in " ".join(menu.texts()), (lang, menu.texts())
        main = speaking.follow(menu.gather_action(), "*")
        assert "?" not in " ".join(main.texts()), (lang, main.texts())


def test_speech_stays_off_by_default(tmp_path: Path, settings: Settings) -> None:
    twilio = app_for(settings, tmp_path)
    welcome = twilio.post("/voice")
    gather = welcome.root.find("Gather")
    assert gather is not None and gather.attrib["input"] == "dtmf"
