"""The webhook as Twilio sees it: signed requests in, TwiML out."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask

from ivr.app import create_app
from ivr.settings import Settings
from support import CALL, DATA, TwilioClient, TwiML, digits_in


@pytest.fixture
def mini(settings: Settings) -> TwilioClient:
    """A caller of the small test flow (NL and FR; Tele-Onthaal has two transfer targets)."""
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows"))
    return TwilioClient(app.test_client())


def choose(twilio: TwilioClient, key: str) -> TwiML:
    welcome = twilio.post("/voice")
    return twilio.follow(welcome.gather_action(), key)


@pytest.mark.parametrize(("key", "line", "number"), [("1", "Tele-Onthaal", "106"), ("2", "Télé-Accueil", "107")])
def test_caller_picks_a_language_and_reaches_its_line_with_0(twilio: TwilioClient, valid_twiml, key, line, number) -> None:
    menu = valid_twiml(choose(twilio, key))
    assert menu.state()["lang"] == {"1": "nl", "2": "fr"}[key]
    line_twiml = valid_twiml(twilio.follow(menu.gather_action(), "0"))
    spoken = line_twiml.spoken()
    assert line in spoken
    assert digits_in(spoken).count(number) == 2  # said twice, digit by digit
    assert f"{' '.join(number)}" in spoken


def test_welcome_speaks_each_language_in_its_own_voice(twilio: TwilioClient, valid_twiml) -> None:
    welcome = valid_twiml(twilio.post("/voice"))
    says = welcome.root.findall("Gather/Say")
    assert [s.attrib["language"] for s in says] == ["nl-BE", "fr-BE", "de-DE", "en-GB"]
    gather = welcome.root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    # the verb after <Gather> is the silence path
    assert welcome.verbs() == ["Gather", "Redirect"]
    assert welcome.redirect() == gather.attrib["action"]


def test_silent_caller_is_reprompted_then_sent_to_the_line(mini: TwilioClient, valid_twiml) -> None:
    menu = choose(mini, "2")
    first = valid_twiml(mini.follow(menu.redirect()))  # Twilio follows <Redirect> with no Digits
    assert first.texts()[0] == "Rien entendu."
    assert first.state()["ni"] == "1"
    second = valid_twiml(mini.follow(first.redirect()))
    assert second.state()["ni"] == "2"
    third = valid_twiml(mini.follow(second.redirect()))
    assert "1 0 7" in third.spoken()
    assert third.state()["node"] == "line"


def test_wrong_keys_are_reprompted_then_sent_to_the_line(mini: TwilioClient, valid_twiml) -> None:
    menu = choose(mini, "1")
    wrong = valid_twiml(mini.follow(menu.gather_action(), "7"))
    assert wrong.texts()[0] == "Onbekende toets."
    assert wrong.state() | {} == {**menu.state(), "wk": "1"}
    # one wrong-key retry in the test flow: the next wrong key dials Tele-Onthaal's first target
    dialled = valid_twiml(mini.follow(wrong.gather_action(), "8"))
    number = dialled.root.find("Dial/Number")
    assert number is not None and number.text == "+3290000001"


def test_silence_at_the_language_menu_says_every_language_line(mini: TwilioClient, valid_twiml) -> None:
    answer = mini.post("/voice")
    for _ in range(2):
        answer = valid_twiml(mini.follow(answer.redirect()))
        assert answer.verbs() == ["Gather", "Redirect"]
    final = valid_twiml(mini.follow(answer.redirect()))
    # No language chosen: each language's own line, in its language, the default first; no transfer
    # (we do not know whose line to ring), and a language key still chooses.
    assert final.root.find("Dial") is None
    assert [s.attrib["language"] for s in final.root.iter("Say")] == ["nl-BE", "fr-BE"]
    assert digits_in(final.spoken()) == "106112107112"
    chosen = valid_twiml(mini.follow(final.gather_action(), "2"))
    assert chosen.state()["lang"] == "fr" and chosen.state()["node"] == "main"


def test_talk_now_at_the_language_menu_says_every_language_line(mini: TwilioClient, valid_twiml) -> None:
    welcome = mini.post("/voice")
    answer = valid_twiml(mini.follow(welcome.gather_action(), "0"))
    assert answer.state()["node"] == "every" and digits_in(answer.spoken()) == "106112107112"
    again = valid_twiml(mini.follow(answer.redirect()))  # silence: once more
    assert digits_in(again.spoken()) == "106112107112"
    end = valid_twiml(mini.follow(again.redirect()))
    assert end.verbs() == ["Hangup"]


def test_french_number_defaults_to_french(mini: TwilioClient, valid_twiml) -> None:
    answer = mini.post("/voice", {"To": "+3225550101"})
    assert answer.state()["lang"] == "fr"
    for _ in range(3):
        # This number listens for speech too (tests/data/config/settings.yaml).
        answer = valid_twiml(mini.follow(answer.redirect(), To="+3225550101"), speech=True)
    assert "1 0 7" in answer.spoken()


def test_failed_transfers_try_each_target_then_say_the_number(mini: TwilioClient, valid_twiml) -> None:
    menu = choose(mini, "1")
    dial = valid_twiml(mini.follow(menu.gather_action(), "0"))
    assert dial.verbs() == ["Say", "Dial"]
    dial_el = dial.root.find("Dial")
    assert dial_el is not None
    assert dial_el.attrib["timeout"] == "15"
    assert dial_el.attrib["callerId"] == "+3225550101"  # our number (To, +3225550100, is not one of ours)
    second = valid_twiml(mini.follow(dial_el.attrib["action"], DialCallStatus="busy"))
    second_dial = second.root.find("Dial")
    assert second_dial is not None
    assert second.root.findtext("Dial/Number") == "+3290000002"
    told = valid_twiml(mini.follow(second_dial.attrib["action"], DialCallStatus="no-answer"))
    assert "1 0 6" in told.spoken()
    assert told.root.find("Dial") is None


@pytest.mark.parametrize("to", ["sip:ivr@example.org", "", "client:helpdesk"])
def test_a_transfer_shows_our_number_even_when_the_request_does_not_give_it(mini: TwilioClient, valid_twiml, to: str) -> None:
    language = mini.follow(mini.post("/voice", {"To": to}).gather_action(), "1", To=to)
    dial = valid_twiml(mini.follow(language.gather_action(), "0", To=to)).root.find("Dial")
    assert dial is not None and dial.attrib["callerId"] == "+3225550101"  # the number in settings, not the caller's
    fallback = valid_twiml(mini.post("/voice/fallback", {"To": to})).root.find("Dial")
    assert fallback is not None and fallback.attrib["callerId"] == "+3225550101"


@pytest.mark.parametrize(
    ("to", "shown"),
    [
        ("+3225550102", "+3225550102"),  # ours: the number the caller dialled
        ("+3225550101", "+3225550101"),
        ("+32470123456", "+3225550101"),  # E.164 but not ours (a caller's mobile): never shown, our first instead
        ("+15005550006", "+3225550101"),
    ],
)
def test_the_caller_id_of_a_transfer_is_only_ever_one_of_our_numbers(
    settings: Settings, tmp_path: Path, valid_twiml, to: str, shown: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    path = config / "settings.yaml"
    ours = '  "+3225550101": {default_language: fr, speech: true}  # and callers may speak, on this number only\n'
    text = path.read_text(encoding="utf-8")
    assert ours in text
    path.write_text(text.replace(ours, ours + '  "+3225550102": {default_language: nl}\n'), encoding="utf-8")
    caller = TwilioClient(create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows")).test_client())
    language = caller.follow(caller.post("/voice", {"To": to}).gather_action(), "1", To=to)
    dial = valid_twiml(caller.follow(language.gather_action(), "0", To=to)).root.find("Dial")
    assert dial is not None and dial.attrib["callerId"] == shown
    # The fallback's rescue dials the line of the number's default language (French: no transfer_to, no <Dial>).
    rescue = valid_twiml(caller.post("/voice/fallback", {"To": to})).root.findall("Dial")
    assert {d.attrib["callerId"] for d in rescue} == (set() if to == "+3225550101" else {shown})


@pytest.mark.parametrize("status", ["completed", "answered"])
def test_a_transfer_that_connected_ends_the_call(mini: TwilioClient, valid_twiml, status: str) -> None:
    dial = mini.follow(choose(mini, "1").gather_action(), "0")
    action = dial.root.find("Dial").attrib["action"]  # type: ignore[union-attr]
    assert valid_twiml(mini.follow(action, DialCallStatus=status)).verbs() == ["Hangup"]


def test_message_plays_pauses_and_offers_repeat_menu_and_talk(mini: TwilioClient, valid_twiml) -> None:
    info = valid_twiml(mini.follow(choose(mini, "1").gather_action(), "3"))
    gather = info.root.find("Gather")
    assert gather is not None
    assert [el.tag for el in gather] == ["Say", "Pause", "Say", "Say"]
    assert gather.find("Pause").attrib["length"] == "3"  # type: ignore[union-attr]
    again = valid_twiml(mini.follow(info.gather_action(), "9"))
    assert again.texts() == info.texts()
    menu = valid_twiml(mini.follow(info.gather_action(), "*"))
    assert menu.state()["node"] == "main"
    talk = valid_twiml(mini.follow(info.gather_action(), "0"))
    assert talk.root.find("Dial") is not None
    after_silence = valid_twiml(mini.follow(info.redirect()))
    assert after_silence.state()["node"] == "main"


def test_goodbye_repeats_the_number_then_hangs_up(mini: TwilioClient, valid_twiml) -> None:
    bye = valid_twiml(mini.follow(choose(mini, "2").gather_action(), "4"))
    assert bye.verbs() == ["Say", "Hangup"]
    assert "1 0 7" in bye.spoken()


def test_fallback_needs_no_state_and_names_the_lines_and_112(twilio: TwilioClient, valid_twiml) -> None:
    rescue = valid_twiml(twilio.post("/voice/fallback", {"ErrorCode": "11200", "ErrorUrl": "https://ivr.example.org/voice"}))
    spoken = rescue.spoken()
    for number in ("1 0 6", "1 0 7", "1 1 2"):
        assert number in spoken
    assert rescue.verbs()[-1] == "Hangup"


def test_fallback_dials_when_a_target_is_configured(mini: TwilioClient, valid_twiml) -> None:
    rescue = valid_twiml(mini.post("/voice/fallback"))
    assert rescue.verbs() == ["Say", "Say", "Dial", "Say", "Say", "Hangup"]
    assert "action" not in rescue.root.find("Dial").attrib  # type: ignore[union-attr]


def test_the_rescue_never_rings_a_line_after_a_transfer_connected(mini: TwilioClient, valid_twiml) -> None:
    """Without an action URL Twilio runs the verb after a <Dial> once its call ends, answered or
    not: every target rings in one <Dial> (the first to answer is connected), and no <Dial> follows."""
    rescue = valid_twiml(mini.post("/voice/fallback"))
    verbs = rescue.verbs()
    dials = [i for i, verb in enumerate(verbs) if verb == "Dial"]
    assert len(dials) == 1 and "Dial" not in verbs[dials[0] + 1 :]
    assert [n.text for n in rescue.root.iter("Number")] == ["+3290000001", "+3290000002"]
    assert "1 0 6" in " ".join(rescue.texts()[2:])  # said again if nobody answers


def test_unsigned_and_forged_requests_get_403(twilio: TwilioClient) -> None:
    response = twilio.client.post("/voice", data={"CallSid": "CA1"})
    assert response.status_code == 403
    assert twilio.post("/voice", signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=").status == 403
    # signed for other fields than those sent
    from ivr.security import sign

    forged = sign("test-auth-token-0123456789abcdef", "https://ivr.example.org/voice", {"Digits": "1"})
    assert twilio.post("/voice", {"Digits": "2"}, signature=forged).status == 403
    # signed with another account's token
    other = TwilioClient(twilio.client, token="someone-elses-token")
    assert other.post("/voice").status == 403


@pytest.mark.parametrize("digits", ["", "12", "x", "١", "１", "#*#", "0" * 500, "<Say>", "99999999999999999999"])
def test_garbage_digits_never_give_a_5xx(twilio: TwilioClient, valid_twiml, digits: str) -> None:
    menu = choose(twilio, "1")
    answer = valid_twiml(twilio.follow(menu.gather_action(), digits))
    assert answer.verbs()[-2:] == ["Gather", "Redirect"]  # silence ("") reaches the line: its number, then a <Gather>


@pytest.mark.parametrize(
    "query",
    [
        "",
        "node=nope&lang=nl",
        "lang=xx&node=main",
        "flow=../../etc&lang=nl&node=main",
        "lang=nl&ni=-1&node=main&wk=abc",
        "lang=nl&ni=99&node=main&t=99&wk=99",
        "lang=nl&node=line&t=99",
        "lang=%00&node=%27",
        "lang=nl&lang=fr&node=main&node=info",
    ],
)
def test_garbage_state_restarts_safely(twilio: TwilioClient, valid_twiml, query: str) -> None:
    for path in ("/voice/step", "/voice/dial"):
        answer = valid_twiml(twilio.post(f"{path}?{query}" if query else path, {"Digits": "1", "DialCallStatus": "weird"}))
        assert answer.verbs()[-1] in {"Redirect", "Hangup"} or answer.root.find("Dial") is not None


def test_an_exception_inside_the_webhook_gets_the_rescue_with_200(
    app: Flask, twilio: TwilioClient, valid_twiml, monkeypatch
) -> None:
    svc = app.extensions["ivr"]

    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(svc.engine, "on_input", explode)
    answer = valid_twiml(twilio.post("/voice/step?lang=nl&node=main", {"Digits": "1"}))
    assert "1 0 6" in answer.spoken() and "1 1 2" in answer.spoken()


@pytest.mark.parametrize("path", ["/voice", "/voice/step?flow=helpline&lang=nl&node=main", "/voice/dial?lang=nl&node=main"])
def test_get_on_a_webhook_is_refused_since_its_url_would_carry_the_callers_data(twilio: TwilioClient, path: str) -> None:
    from ivr.security import sign

    url = f"{path}{'&' if '?' in path else '?'}CallSid=CA1&From=%2B32470123456&To=%2B3225550100&Digits=1"
    signature = sign("test-auth-token-0123456789abcdef", "https://ivr.example.org" + url, {})
    response = twilio.client.get(url, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 405 and "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]


def test_the_fallback_answers_get_without_reading_its_query(twilio: TwilioClient, valid_twiml) -> None:
    url = "/voice/fallback?CallSid=CA1&From=%2B32470123456&To=%2B3225550101"
    answer = valid_twiml(TwiML(200, "text/xml", twilio.client.get(url).get_data(as_text=True)))
    assert answer.spoken().startswith(valid_twiml(twilio.post("/voice/fallback", {"To": ""})).spoken()[:40])


def test_unknown_route_is_404_and_healthz_is_open(twilio: TwilioClient) -> None:
    assert twilio.post("/voice/nope").status == 404
    health = twilio.client.get("/healthz")
    found = health.get_json()
    assert health.status_code == 200 and found.pop("loaded_at") and len(found.pop("content")) == 12
    assert found == {"status": "ok", "flows": ["helpline"], "last_refused_reload_at": None}


def test_request_with_the_raw_encoded_query_validates(twilio: TwilioClient, valid_twiml) -> None:
    # Werkzeug's request.url would decode %27 and break this signature; full_path keeps it.
    answer = twilio.post("/voice/step?flow=helpline&lang=nl&node=main&x=%27")
    valid_twiml(answer)


def test_dev_mode_without_token_serves_unsigned_and_warns(settings: Settings, caplog) -> None:
    from dataclasses import replace

    app = create_app(replace(settings, auth_token=None, dev_mode=True))
    with caplog.at_level("WARNING", logger="ivr"):
        response = app.test_client().post("/voice", data={"CallSid": "CA1"})
    assert response.status_code == 200
    assert any("SIGNATURE CHECKS ARE OFF" in r.getMessage() for r in caplog.records)


def test_flow_files_changed_on_disk_do_not_change_a_running_app(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    import shutil
    from dataclasses import replace

    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=flows))
    (flows / "mini.yaml").write_text("nodes: [broken", encoding="utf-8")
    caller = TwilioClient(app.test_client())
    assert valid_twiml(caller.post("/voice")).verbs() == ["Gather", "Redirect"]


def test_a_body_over_64_kb_gets_413_not_a_5xx(twilio: TwilioClient) -> None:
    fields = {"Padding": "x" * 70_000}
    answer = twilio.post("/voice", fields)
    assert answer.status == 413


def test_a_public_url_with_a_path_prefixes_every_url_twilio_is_given(settings: Settings, tmp_path: Path, valid_twiml) -> None:
    """IVR_PUBLIC_URL=https://…/helpline behind a proxy that forwards /helpline/X as /X: every action,
    redirect and audio URL carries the prefix, and requests are checked against the prefixed URL."""
    from dataclasses import replace

    from ivr.audio import build_audio
    from ivr.loader import load_catalog
    from support.audio_fakes import FakeEngine

    public = "https://example.org/helpline"
    audio = tmp_path / "built-audio"
    assert build_audio(load_catalog(DATA / "config", DATA / "flows"), FakeEngine(), audio).ok
    app = create_app(replace(settings, public_url=public, config_dir=DATA / "config", flows_dir=DATA / "flows", audio_dir=audio))
    caller = TwilioClient(app.test_client(), public=public)

    def through_proxy(url: str, **fields: str) -> TwiML:
        assert url.startswith(public + "/voice/"), url
        return valid_twiml(caller.post(url[len(public) :], fields))

    welcome = valid_twiml(caller.post("/voice"))
    assert welcome.redirect() == welcome.gather_action()
    plays = [el.text or "" for el in welcome.root.iter("Play")]
    assert plays and all(url.startswith(public + "/audio/") for url in plays)
    response = app.test_client().get(plays[0][len(public) :])
    response.close()
    assert response.status_code == 200
    silence = through_proxy(welcome.redirect())
    menu = through_proxy(silence.gather_action(), Digits="1")
    dial = through_proxy(menu.gather_action(), Digits="0").root.find("Dial")
    assert dial is not None
    told = through_proxy(dial.attrib["action"], DialCallStatus="busy")
    assert told.root.find("Dial") is not None
    # Signed for the URL without the prefix (what Twilio never calls): refused.
    assert TwilioClient(app.test_client(), public="https://example.org").post("/voice").status == 403


# --- requests that are not Twilio's ------------------------------------------------------------------------


FLOOD = urlencode([(f"f{i}", "x") for i in range(8000)]).encode()  # 62 kB, 8,000 fields


def post_body(app: Flask, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bool, str]:
    """Status, whether any of the body was read, and the answer."""
    stream = io.BytesIO(body)
    response = app.test_client().post(
        path, input_stream=stream, content_type="application/x-www-form-urlencoded", content_length=len(body), headers=headers
    )
    return response.status_code, stream.tell() > 0, response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/voice", "/voice/step?flow=helpline&lang=nl&node=main", "/voice/dial?lang=nl&node=line"])
def test_an_unsigned_request_is_refused_before_its_body_is_read(app: Flask, path: str, json_log) -> None:
    assert len(FLOOD) > 60_000
    status, read, _ = post_body(app, path, FLOOD)
    assert (status, read) == (403, False)
    assert '"error":"no X-Twilio-Signature header"' in json_log.getvalue()


def test_a_forged_signature_on_thousands_of_fields_is_refused_before_they_are_parsed(app: Flask, json_log) -> None:
    status, read, _ = post_body(app, "/voice", FLOOD, {"X-Twilio-Signature": "forged"})
    assert (status, read) == (403, True)
    assert "more than 200 fields" in json_log.getvalue()


def test_a_signed_request_with_many_of_twilios_fields_is_served(twilio: TwilioClient, valid_twiml) -> None:
    extra = {f"AddOnField{i}": "x" for i in range(150)}
    assert valid_twiml(twilio.post("/voice", extra)).root.find("Gather") is not None


@pytest.mark.parametrize("signature", [None, "bad", "test-auth-token"])
def test_the_fallback_answers_without_a_valid_signature_and_logs_why(
    mini: TwilioClient, valid_twiml, json_log, signature
) -> None:
    """The main URL failed, perhaps because the auth token was rotated or the host is not IVR_PUBLIC_URL:
    the fallback's content is public, so the caller hears it anyway, and the log says what was wrong."""
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = mini.client.post("/voice/fallback", data={**CALL, "To": "+3225550101"}, headers=headers)
    answer = valid_twiml(TwiML(response.status_code, response.headers["Content-Type"], response.get_data(as_text=True)))
    assert "1 0 7" in answer.spoken() and "1 0 6" in answer.spoken()
    [line] = [json.loads(text) for text in json_log.getvalue().splitlines()]
    assert line["level"] == "warning" and line["outcome"] == "fallback_unsigned" and line["call"] == "-"
    assert answer.root.find("Dial") is None  # the rescue that only speaks: the line's targets are not public
    assert line["error"] == "no X-Twilio-Signature header" if signature is None else "does not match" in line["error"]


def test_the_fallback_never_reads_a_large_body(app: Flask, valid_twiml, json_log) -> None:
    status, read, body = post_body(app, "/voice/fallback", FLOOD, {"X-Twilio-Signature": "anything"})
    assert (status, read) == (200, False)
    assert "1 1 2" in valid_twiml(TwiML(status, "text/xml", body)).spoken()
    assert "too large" in json_log.getvalue()


def test_a_signed_fallback_request_gets_the_rescue_of_the_called_number(mini: TwilioClient, valid_twiml, json_log) -> None:
    french = valid_twiml(mini.post("/voice/fallback", {"To": "+3225550101"}))
    assert french.texts()[0] != valid_twiml(mini.post("/voice/fallback", {"To": "+3225550100"})).texts()[0]
    assert all("error" not in json.loads(line) for line in json_log.getvalue().splitlines())
