"""Connected, not just told: SIP and phone targets, opening hours across DST, whispers and announcements.

Through the signed webhook, every answer checked against Twilio's schema. The targets are the
fictional ones in tests/data/transfers/helplines.yaml; the engine's clock is set per test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.app import create_app
from ivr.cli import main
from ivr.settings import Settings, SettingsError
from support import DATA, SHIPPED_CONFIG, TwilioClient, TwiML, config_copy, digits_in
from support.transfers import SIP_PASSWORD, app_at, transfers_config

PASSWORD = SIP_PASSWORD
NIGHT, NUMBER, DAY = "sip:nacht@pbx.tele-onthaal.example", "+3290000001", "sip:dag@pbx.tele-onthaal.example"


def at(app: Flask, instant: datetime) -> TwilioClient:
    app.extensions["ivr"].engine.clock = lambda: instant
    return TwilioClient(app.test_client())


def talk_now(twilio: TwilioClient, valid_twiml: Callable[[TwiML], TwiML]) -> TwiML:
    """A Dutch caller who presses 1 for Dutch, then 0."""
    welcome = valid_twiml(twilio.post("/voice"))
    menu = valid_twiml(twilio.follow(welcome.gather_action(), "1"))
    return valid_twiml(twilio.follow(menu.gather_action(), "0"))


def dialled(answer: TwiML) -> list[tuple[str, str, dict[str, str]]]:
    dial = answer.root.find("Dial")
    assert dial is not None, answer.body
    assert dial.attrib["answerOnBridge"] == "true"  # the caller hears ringing, not silence
    return [(child.tag, (child.text or "").strip(), dict(child.attrib)) for child in dial]


@pytest.fixture
def transfers(settings: Settings, tmp_path: Path) -> Flask:
    return app_at(settings, transfers_config(tmp_path))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- targets of two kinds, in order, skipping closed ones ------------------------------------------


def test_a_sip_target_with_credentials_gets_them_from_the_environment_and_a_whisper(transfers: Flask, valid_twiml) -> None:
    answer = talk_now(at(transfers, utc(2026, 3, 29, 0, 30)), valid_twiml)  # Sunday 01:30 CET: the night PBX is open
    ((tag, address, attrib),) = dialled(answer)
    assert (tag, address, attrib["username"], attrib["password"]) == ("Sip", NIGHT, "nacht-user", PASSWORD)
    assert attrib["url"].startswith("https://ivr.example.org/voice/whisper?line=tele_onthaal") and attrib["method"] == "POST"


def test_a_sip_target_without_credentials(transfers: Flask, valid_twiml) -> None:
    answer = talk_now(at(transfers, utc(2026, 11, 30, 10, 0)), valid_twiml)  # Monday 11:00: only the day PBX is open
    ((tag, address, attrib),) = dialled(answer)
    assert (tag, address) == ("Sip", DAY) and "username" not in attrib and "password" not in attrib


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 3, 28, 22, 59), NUMBER),  # Saturday 23:59 CET: the number (until midnight)
        (utc(2026, 3, 29, 0, 30), NIGHT),  # Sunday 01:30 CET, before the change
        (utc(2026, 3, 29, 1, 30), NIGHT),  # 03:30 CEST: 02:xx never happened; still inside 01:00-04:00
        (utc(2026, 3, 29, 2, 0), DAY),  # 04:00 CEST: the night PBX has closed
        (utc(2026, 10, 25, 0, 30), NIGHT),  # 02:30 CEST, the first time
        (utc(2026, 10, 25, 1, 30), NIGHT),  # 02:30 CET, the second time
        (utc(2026, 10, 25, 2, 59), NIGHT),  # 03:59 CET
        (utc(2026, 10, 25, 3, 0), DAY),  # 04:00 CET: closed
        (utc(2026, 11, 27, 22, 59), NUMBER),  # Friday 23:59: the number closes at midnight…
        (utc(2026, 11, 27, 23, 0), DAY),  # …Saturday 00:00: closed
        (utc(2026, 12, 25, 19, 0), DAY),  # Christmas, 20:00: a holiday closes the number's hours
        (utc(2026, 12, 26, 19, 0), NUMBER),  # the day after, 20:00: open again
    ],
)
def test_closed_targets_are_skipped_on_both_sides_of_each_dst_change(
    transfers: Flask, valid_twiml, instant: datetime, expected: str
) -> None:
    (first,) = dialled(talk_now(at(transfers, instant), valid_twiml))
    assert first[1] == expected


def test_a_failed_target_tries_the_next_open_one_then_says_the_number(transfers: Flask, valid_twiml) -> None:
    twilio = at(transfers, utc(2026, 3, 28, 23, 0))  # Sunday 00:00 CET
    answer = talk_now(twilio, valid_twiml)
    assert [address for _, address, _ in dialled(answer)] == [DAY]  # the night PBX opens at 01:00, the number closed
    busy = valid_twiml(twilio.follow(answer.root.find("Dial").attrib["action"], DialCallStatus="busy"))  # type: ignore[union-attr]
    assert busy.root.find("Dial") is None and "1 0 6" in busy.spoken()  # no target left: the number, said


def test_when_no_target_is_open_the_number_is_said(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    config = transfers_config(tmp_path)
    helplines = config / "helplines.yaml"
    helplines.write_text(helplines.read_text(encoding="utf-8").replace('      - "sip:dag@pbx.tele-onthaal.example"\n', ""))
    answer = talk_now(at(app_at(settings, config), utc(2026, 11, 30, 10, 0)), valid_twiml)  # Monday 11:00: all closed
    assert answer.root.find("Dial") is None and digits_in(answer.spoken()).startswith("106")


def test_the_wording_of_0_follows_whether_a_target_is_open_now(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    def office_hours(name: str, text: str) -> str:
        if name == "settings.yaml":
            return text.replace("called_numbers: {}", 'called_numbers: {"+3225550100": {default_language: nl}}')
        if name == "helplines.yaml":
            return text.replace(
                "    transfer_to: []\n",
                '    transfer_to: [{address: "+3290000001", hours_open: ["mon-fri 09:00-17:00"]}]\n',
                1,  # Tele-Onthaal, the first line
            )
        return text

    app = create_app(replace(settings, config_dir=config_copy(tmp_path, office_hours)))
    monday_morning = at(app, utc(2026, 11, 30, 9, 0))  # 10:00 in Brussels
    welcome = valid_twiml(monday_morning.post("/voice"))
    assert (
        "Om te proberen iemand te bereiken, druk op 0."
        in valid_twiml(monday_morning.follow(welcome.gather_action(), "1")).spoken()
    )
    monday_evening = at(app, utc(2026, 11, 30, 19, 0))  # 20:00: closed
    welcome = valid_twiml(monday_evening.post("/voice"))
    said = valid_twiml(monday_evening.follow(welcome.gather_action(), "1")).spoken()
    assert "Om nu met iemand te praten, druk op 0." in said and "bereiken" not in said


# --- the whisper ------------------------------------------------------------------------------------


def test_the_whisper_says_where_the_call_comes_from_in_the_lines_language(transfers: Flask, valid_twiml) -> None:
    twilio = at(transfers, utc(2026, 3, 29, 0, 30))
    url = dialled(talk_now(twilio, valid_twiml))[0][2]["url"]
    whisper = valid_twiml(twilio.follow(url))
    (say,) = whisper.root.iter("Say")
    assert (say.text, say.attrib["language"]) == ("Een oproep via het keuzemenu van de hulplijnen.", "nl-BE")
    assert whisper.verbs() == ["Say"]  # nothing about the caller, no number


def test_a_whisper_that_fails_is_an_empty_response_so_the_call_goes_through(
    transfers: Flask, valid_twiml, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio = at(transfers, utc(2026, 3, 29, 0, 30))
    assert valid_twiml(twilio.post("/voice/whisper?line=nope")).verbs() == []  # an unknown line: nothing said

    def broken(*args: object) -> str:
        raise RuntimeError("the whisper broke")

    monkeypatch.setattr("ivr.web.whisper_twiml", broken)
    answer = valid_twiml(twilio.post("/voice/whisper?line=tele_onthaal"))
    assert (answer.status, answer.verbs()) == (200, [])
    assert twilio.post("/voice/whisper?line=tele_onthaal", signature="forged").status == 403


# --- announcements ----------------------------------------------------------------------------------

BUSY = {
    "text": {"nl": "Tele-Onthaal is vanavond erg druk. Blijf proberen."},
    "start": "2026-11-30T18:00+01:00",
    "end": "2026-12-01T06:00+01:00",
}


def test_an_announcement_is_said_after_the_number_and_never_before_a_transfer(
    settings: Settings, tmp_path: Path, valid_twiml
) -> None:
    file = tmp_path / "announcement.json"
    file.write_text(json.dumps(BUSY), encoding="utf-8")
    app = app_at(settings, transfers_config(tmp_path), announcement_file=file)
    twilio = at(app, utc(2026, 11, 30, 20, 0))
    during = talk_now(twilio, valid_twiml)
    assert dialled(during) and "druk" not in during.spoken()  # the transfer starts at once
    while during.root.find("Dial") is not None:  # every target busy: then the number, then the announcement
        during = valid_twiml(twilio.follow(during.root.find("Dial").attrib["action"], DialCallStatus="busy"))  # type: ignore[union-attr]
    texts = during.texts()
    assert texts.index("Tele-Onthaal is vanavond erg druk. Blijf proberen.") > next(
        i for i, t in enumerate(texts) if "1 0 6" in t
    )
    before = at(app, utc(2026, 11, 30, 16, 0))  # 17:00: not yet
    answer = talk_now(before, valid_twiml)
    while answer.root.find("Dial") is not None:
        answer = valid_twiml(before.follow(answer.root.find("Dial").attrib["action"], DialCallStatus="busy"))  # type: ignore[union-attr]
    assert "druk" not in answer.spoken()


def test_a_broken_announcement_is_no_announcement_and_a_warning(
    settings: Settings, tmp_path: Path, valid_twiml, json_log: io.StringIO
) -> None:
    app = app_at(settings, transfers_config(tmp_path), announcement='{"text": {"nl": "Bel 106"}, "start": "x", "end": "y"}')
    answer = talk_now(at(app, utc(2026, 11, 30, 20, 0)), valid_twiml)
    assert dialled(answer) and "Bel" not in answer.spoken()
    assert "announcement ignored" in json_log.getvalue()


def test_ivr_announce_sets_shows_and_clears_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "announcement.json"
    monkeypatch.setenv("IVR_ANNOUNCEMENT_FILE", str(file))
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "announce",
            "set",
            "--say",
            "fr",
            "Télé-Accueil est très sollicité ce soir.",
            "--start",
            "2026-11-30T18:00+01:00",
            "--end",
            "2026-12-01T06:00+01:00",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(file.read_text(encoding="utf-8"))["text"] == {"fr": "Télé-Accueil est très sollicité ce soir."}
    shown = runner.invoke(main, ["announce", "show"])
    assert "fr: Télé-Accueil est très sollicité ce soir." in shown.output
    refused = runner.invoke(
        main,
        [
            "announce",
            "set",
            "--say",
            "fr",
            "Appelez le 107",
            "--start",
            "2026-11-30T18:00+01:00",
            "--end",
            "2026-12-01T06:00+01:00",
        ],
    )
    assert refused.exit_code == 1 and "digit" in refused.output
    assert "sollicité" in file.read_text(encoding="utf-8")  # a refused announcement changes nothing
    assert runner.invoke(main, ["announce", "clear"]).exit_code == 0 and not file.exists()


# --- credentials: only from the environment, never shown ----------------------------------------------


def test_missing_credentials_stop_the_service_naming_the_variables(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="IVR_SIP_TO_NIGHT_USERNAME and IVR_SIP_TO_NIGHT_PASSWORD"):
        create_app(replace(settings, config_dir=transfers_config(tmp_path), flows_dir=DATA / "flows"))


def test_the_sip_password_appears_nowhere_but_in_the_dial(
    settings: Settings, tmp_path: Path, valid_twiml, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = transfers_config(tmp_path)
    app = app_at(settings, config)
    twilio = at(app, utc(2026, 3, 29, 0, 30))
    answer = talk_now(twilio, valid_twiml)
    assert PASSWORD in answer.body  # Twilio needs it: the one place it goes
    valid_twiml(twilio.follow(answer.root.find("Dial").attrib["action"], DialCallStatus="failed"))  # type: ignore[union-attr]
    valid_twiml(twilio.post("/voice/fallback"))
    with monkeypatch.context() as broken:
        broken.setattr("ivr.engine.Engine.on_input", lambda *a, **k: 1 / 0)  # an error, with its traceback logged
        valid_twiml(twilio.follow(answer.root.find("Dial").attrib["action"].replace("dial", "step"), "5"))  # type: ignore[union-attr]
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_USERNAME", "nacht-user")
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_PASSWORD", PASSWORD)
    runner = CliRunner()
    outputs = {
        "logs": json_log.getvalue(),
        "repr": repr(app.extensions["ivr"].settings),
        "graph": runner.invoke(main, ["graph", "--config", str(config), "--flows", str(DATA / "flows")]).output,
        "prompts": runner.invoke(main, ["prompts", "--config", str(config), "--flows", str(DATA / "flows")]).output,
        "validate": runner.invoke(main, ["validate", "--config", str(config), "--flows", str(DATA / "flows")]).output,
    }
    export = runner.invoke(
        main, ["fallback", "export", str(tmp_path / "out"), "--config", str(config), "--flows", str(DATA / "flows")]
    )
    assert export.exit_code == 0, export.output
    outputs["export"] = export.output + "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir())
    broken = config / "helplines.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("credentials: TO_NIGHT", "credentials: to-night"))
    outputs["errors"] = runner.invoke(main, ["validate", "--config", str(config), "--flows", str(DATA / "flows")]).output
    assert "sip:nacht@pbx.tele-onthaal.example" in outputs["graph"]  # the graph shows the target and its hours
    assert "sun 01:00-04:00" in outputs["graph"] and "must be capital letters" in outputs["errors"]
    for name, text in outputs.items():
        assert PASSWORD not in text, name


# --- config errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('"sip:dag@pbx.tele-onthaal.example"', '"sip:dag:geheim@pbx.tele-onthaal.example"', "no user password in the address"),
        (
            '      - address: "+3290000001"\n',
            '      - address: "+3290000001"\n        credentials: TO_NIGHT\n',
            "only a SIP address takes credentials",
        ),
        ('["mon-sun 18:00-24:00"]', '["mon-sun 18:00-25:00"]', "not a time of day"),
        ('holidays: ["2026-12-25"]', 'holidays: ["25/12/2026"]', "YYYY-MM-DD"),
        ('whisper: "Een oproep', 'whisper: "Bel 106. Een oproep', "a whisper says no number"),
    ],
)
def test_a_target_that_cannot_be_used_is_a_located_error(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    config = transfers_config(tmp_path)
    helplines = config / "helplines.yaml"
    text = helplines.read_text(encoding="utf-8")
    assert old in text
    helplines.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--config", str(config), "--flows", str(DATA / "flows")])
    assert result.exit_code == 1 and fragment in result.output, result.output
    assert "helplines.yaml:" in result.output


def test_the_shipped_config_has_no_transfer_targets() -> None:
    """No line has given us a target: production can never dial a placeholder (the example in the docs is fictional)."""
    lines = (SHIPPED_CONFIG / "helplines.yaml").read_text(encoding="utf-8").splitlines()
    targets = [line.strip() for line in lines if line.strip().startswith("transfer_to:")]
    assert targets == ["transfer_to: []"] * 7


# --- what the simulators show -------------------------------------------------------------------------


def test_ivr_simulate_shows_the_target_and_what_the_volunteer_hears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_USERNAME", "nacht-user")
    monkeypatch.setenv("IVR_SIP_TO_NIGHT_PASSWORD", PASSWORD)
    config = transfers_config(tmp_path)
    result = CliRunner().invoke(main, ["simulate", "--config", str(config), "--flows", str(DATA / "flows"), "--keys", "1,0"])
    assert result.exit_code == 0, result.output
    # Whichever target is open at this hour, it rings, and its volunteer hears the whisper first.
    rang = result.output.split("ringing ", 1)[1].split(" (up to", 1)[0]
    assert rang in (NIGHT, NUMBER, DAY), result.output
    assert "(the volunteer who answers hears first: Een oproep via het keuzemenu van de hulplijnen.)" in result.output
    assert PASSWORD not in result.output


def test_the_browser_simulator_never_sees_a_sip_password(settings: Settings, tmp_path: Path) -> None:
    app = app_at(settings, transfers_config(tmp_path), dev_mode=True)
    app.extensions["ivr"].engine.clock = lambda: utc(2026, 3, 29, 0, 30)  # the night PBX, with its credentials
    client = app.test_client()
    welcome = client.post("/simulator/api/call", json={}).get_json()
    action = next(v for v in welcome["verbs"] if v["verb"] == "gather")["action"]
    menu = client.post("/simulator/api/step", json={"call": welcome["call"], "url": action, "digits": "1"}).get_json()
    action = next(v for v in menu["verbs"] if v["verb"] == "gather")["action"]
    response = client.post("/simulator/api/step", json={"call": welcome["call"], "url": action, "digits": "0"})
    ring = next(v for v in response.get_json()["verbs"] if v["verb"] == "dial")
    assert ring["number"] == "sip:…le" and ring["whisper"] == "Een oproep via het keuzemenu van de hulplijnen."
    assert (
        PASSWORD not in response.get_data(as_text=True) and 'password="(set in the environment)"' in response.get_json()["twiml"]
    )
    assert "nacht-user" not in response.get_data(as_text=True)


def test_a_line_closed_at_some_hours_needs_both_wordings_of_0(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (DATA / "wording" / "no_connect_wording.yaml").read_text(encoding="utf-8")
    (flows / "mini.yaml").write_text(text.replace("      - number: {", "      - connect: {", 1), encoding="utf-8")
    config = transfers_config(tmp_path)
    missing = "no wording for when the talk-now key says the line's number, which {} callers hear"
    result = CliRunner().invoke(main, ["validate", "--config", str(config), "--flows", str(flows)])
    assert missing.format("fr") in result.output  # Télé-Accueil has no targets; Tele-Onthaal's day PBX is always open
    helplines = config / "helplines.yaml"
    helplines.write_text(helplines.read_text(encoding="utf-8").replace('      - "sip:dag@pbx.tele-onthaal.example"\n', ""))
    result = CliRunner().invoke(main, ["validate", "--config", str(config), "--flows", str(flows)])
    assert missing.format("nl, fr") in result.output  # now every Tele-Onthaal target keeps hours: the number at night
