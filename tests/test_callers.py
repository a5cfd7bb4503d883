"""What the caller checker counts on, through the signed webhook: the way back from a wrong language, every line
again after a wrong key, a failed transfer told truly, the rescue that says it rings, announcements after the number."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.app import create_app
from ivr.cli import main
from ivr.settings import Settings
from support import SHIPPED_CONFIG, TwilioClient, TwiML, app_for, config_copy, with_transfer_targets

ENGLISH_OFFER = "To talk to someone, press 0."


def test_a_wrong_language_is_one_key_away_from_the_right_one(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    welcome = valid_twiml(twilio.post("/voice"))
    dutch = valid_twiml(twilio.follow(welcome.gather_action(), "1"))  # "press 1 for…", by reflex
    assert (dutch.state()["node"], dutch.state()["lang"]) == ("first_menu", "nl")
    english = valid_twiml(twilio.follow(dutch.gather_action(), "4"))  # at once: no need to listen to the Dutch
    assert (english.state()["node"], english.state()["lang"]) == ("first_menu", "en")
    assert english.texts()[0] == ENGLISH_OFFER
    # and from the main menu too
    main_menu = valid_twiml(twilio.follow(english.gather_action(), "*"))
    french = valid_twiml(twilio.follow(main_menu.gather_action(), "2"))
    assert (french.state()["node"], french.state()["lang"]) == ("first_menu", "fr")


def test_the_options_are_off_the_language_keys(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    welcome = valid_twiml(twilio.post("/voice"))
    menu = valid_twiml(twilio.follow(welcome.gather_action(), "4"))
    assert "For a short breathing exercise, press 7." in menu.spoken()
    breathing = valid_twiml(twilio.follow(menu.gather_action(), "7"))
    assert breathing.state()["node"] == "breathing"


def test_a_wrong_key_at_the_welcome_leads_to_every_line_which_a_wrong_key_says_again(
    twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    welcome = valid_twiml(twilio.post("/voice"))
    every = valid_twiml(twilio.follow(welcome.gather_action(), "5"))
    assert every.state()["node"] == "every_line"
    assert every.spoken().startswith("Bel Tele-Onthaal, dag en nacht, op 1 0 6.")
    again = valid_twiml(twilio.follow(every.gather_action(), "7"))  # not the welcome again: every line, from the start
    assert again.state()["node"] == "every_line" and again.spoken() == every.spoken()
    english = valid_twiml(twilio.follow(again.gather_action(), "4"))  # a language key still chooses
    assert english.state()["lang"] == "en"


@pytest.fixture
def dialling(settings: Settings, tmp_path: Path) -> TwilioClient:
    return app_for(settings, tmp_path, config_copy(tmp_path, with_transfer_targets))


def test_after_a_failed_transfer_nobody_reached_comes_first_then_the_number_and_112_uncut(
    dialling: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    welcome = valid_twiml(dialling.post("/voice"))
    menu = valid_twiml(dialling.follow(welcome.gather_action(), "1"))
    answer = valid_twiml(dialling.follow(menu.gather_action(), "0"))
    assert answer.texts() == ["We proberen je nu door te verbinden met Tele-Onthaal. Blijf even aan de lijn."]
    for status in ("busy", "no-answer"):  # the first target busy, then the second not answering
        dial = answer.root.find("Dial")
        assert dial is not None, answer.body
        answer = valid_twiml(dialling.follow(dial.attrib["action"], DialCallStatus=status))
    verbs = [child.tag for child in answer.root]
    uncut = verbs.index("Gather")  # what comes before the <Gather>: no key or word cuts it short
    said = [(child.text or "") for child in answer.root[:uncut]]
    assert set(verbs[:uncut]) == {"Say"}
    assert said[:2] == [
        "Er kon nu niemand worden bereikt. Dat ligt niet aan jou.",
        "Bel Tele-Onthaal op 1 0 6. Dag en nacht, gratis en anoniem.",
    ]
    assert "1 1 2" in " ".join(said) and "Is het bezet, of neemt niemand op" in " ".join(said)


def test_the_rescue_says_it_tries_to_connect_before_it_rings(
    dialling: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    rescue = valid_twiml(dialling.post("/voice/fallback"))  # signed: it may dial
    verbs = [child.tag for child in rescue.root]
    ring = verbs.index("Dial")
    assert rescue.root[ring - 1].text == "We proberen je nu door te verbinden met Tele-Onthaal. Blijf aan de lijn."


def test_an_announcement_is_said_after_the_number_and_112(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    text = "Tele-Onthaal is vanavond erg druk. Blijf proberen."
    file.write_text(
        json.dumps({"text": {"nl": text}, "start": "2026-11-30T18:00+01:00", "end": "2026-12-01T06:00+01:00"}), encoding="utf-8"
    )
    app = create_app(replace(settings, announcement_file=file))
    app.extensions["ivr"].engine.clock = lambda: datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    twilio = TwilioClient(app.test_client())
    welcome = twilio.post("/voice")
    menu = twilio.follow(welcome.gather_action(), "1")
    line = twilio.follow(menu.gather_action(), "0")
    said = line.texts()
    number = next(i for i, s in enumerate(said) if "1 0 6" in s)
    emergency = next(i for i, s in enumerate(said) if "1 1 2" in s)
    assert said.index(text) > max(number, emergency)
    # Nor does it come before the first menu's offer and number
    assert text not in menu.spoken()


def test_ivr_announce_set_refuses_an_announcement_longer_than_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_ANNOUNCEMENT_FILE", str(tmp_path / "announcement.json"))
    monkeypatch.setenv("IVR_CONFIG", str(SHIPPED_CONFIG))
    long = " ".join(["Het is nu erg druk op de lijn."] * 5)  # 40 words in 154 characters: 17.4 s at 2.3 words a second
    args = ["announce", "set", "--start", "2026-12-24T18:00+01:00", "--end", "2026-12-25T08:00+01:00"]
    result = CliRunner().invoke(main, [*args, "--say", "nl", long])
    assert result.exit_code == 1
    assert "the nl text lasts about 17.4 s said, longer than the 15 s an announcement may" in result.output
    assert not (tmp_path / "announcement.json").exists()
    short = CliRunner().invoke(main, [*args, "--say", "nl", "Tele-Onthaal is vanavond erg druk."])
    assert short.exit_code == 0, short.output
