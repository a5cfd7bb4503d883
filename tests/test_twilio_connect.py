"""`ivr twilio connect`: against a fake of Twilio's REST API behind twilio's own HTTP client interface."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner, Result
from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.cli import main

ACCOUNT = "AC" + "a" * 32
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers"
NUMBER = "+3225550100"
SID = "PN" + "b" * 32


def number_json(phone: str, sid: str, **voice: str) -> dict[str, Any]:
    return {
        "sid": sid,
        "account_sid": ACCOUNT,
        "phone_number": phone,
        "friendly_name": "Helpline BE",
        "voice_url": "https://demo.twilio.com/welcome/voice/",
        "voice_method": "POST",
        "voice_fallback_url": None,
        "voice_fallback_method": "POST",
        "voice_application_sid": None,
        "trunk_sid": None,
        "status_callback": None,
        "status_callback_method": "POST",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{sid}.json",
        **voice,
    }


@dataclass
class FakeTwilioApi(HttpClient):  # type: ignore[misc]
    """Answers IncomingPhoneNumbers list and update requests like api.twilio.com; records them."""

    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)  # sid -> record
    requests: list[tuple[str, str, dict[str, Any], dict[str, Any], tuple[str, str] | None]] = field(default_factory=list)
    status: int = 200
    refuse_updates: bool = False

    def __post_init__(self) -> None:
        super().__init__(logging.getLogger("fake-twilio"), is_async=False)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append((method, uri, dict(params or {}), dict(data or {}), auth))
        if self.status != 200:
            body = {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }
            return Response(self.status, json.dumps(body))
        if method == "GET" and uri == f"{API}.json":
            wanted = (params or {}).get("PhoneNumber")
            found = [n for n in self.numbers.values() if wanted in (None, n["phone_number"])]
            page = {
                "incoming_phone_numbers": found,
                "start": 0,
                "end": max(len(found) - 1, 0),
                "page": 0,
                "page_size": 20,
                "first_page_uri": "",
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": "",
            }
            return Response(200, json.dumps(page))
        updated = re.fullmatch(rf"{API}/(PN[0-9a-f]{{32}})\.json", uri)
        if method == "POST" and self.refuse_updates:
            body = {"code": 21402, "message": "VoiceUrl is not valid", "more_info": "", "status": 400}
            return Response(400, json.dumps(body))
        if method == "POST" and updated and updated[1] in self.numbers:
            record = self.numbers[updated[1]]
            names = {
                "VoiceUrl": "voice_url",
                "VoiceMethod": "voice_method",
                "VoiceFallbackUrl": "voice_fallback_url",
                "VoiceFallbackMethod": "voice_fallback_method",
                "VoiceApplicationSid": "voice_application_sid",
                "StatusCallback": "status_callback",
                "StatusCallbackMethod": "status_callback_method",
            }
            for name, value in (data or {}).items():
                record[names[name]] = value or None
            return Response(200, json.dumps(record))
        return Response(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))

    def posts(self) -> list[dict[str, Any]]:
        return [data for method, _, _, data, _ in self.requests if method == "POST"]


@pytest.fixture
def api() -> FakeTwilioApi:
    return FakeTwilioApi({SID: number_json(NUMBER, SID), "PN" + "c" * 32: number_json("+3225550199", "PN" + "c" * 32)})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret-token")
    monkeypatch.setenv("IVR_PUBLIC_URL", "https://ivr.example.org")


def connect(api: FakeTwilioApi, *args: str) -> Result:
    return CliRunner().invoke(main, ["twilio", "connect", *args], obj={"twilio_http_client": api})


@pytest.mark.usefixtures("env")
def test_dry_run_shows_the_number_and_the_changes_but_changes_nothing(api: FakeTwilioApi) -> None:
    result = connect(api, NUMBER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert api.posts() == []
    assert result.output.splitlines() == [
        "Now:",
        f"  {NUMBER} (Helpline BE, {SID})",
        "    Voice URL: https://demo.twilio.com/welcome/voice/",
        "    Voice method: POST",
        "    Voice Fallback URL: (none)",
        "    Voice Fallback method: POST",
        "    TwiML App (overrides the URLs): (none)",
        "    Call status changes: (none)",
        "    Call status method: POST",
        "Note: the fallback URL is on this service's host; export it to another (ivr fallback export, --fallback-url).",
        "Dry run: would change:",
        "  Voice URL: https://demo.twilio.com/welcome/voice/ -> https://ivr.example.org/voice",
        "  Voice Fallback URL: (none) -> https://ivr.example.org/voice/fallback",
        "  Call status changes: (none) -> https://ivr.example.org/voice/status",
        "Dry run: nothing was changed.",
    ]
    method, uri, params, _, auth = api.requests[0]
    assert (method, uri, params["PhoneNumber"], auth) == ("GET", f"{API}.json", NUMBER, (ACCOUNT, "secret-token"))


@pytest.mark.usefixtures("env")
def test_connect_posts_both_urls_and_methods(api: FakeTwilioApi) -> None:
    api.numbers[SID].update(voice_method="GET", voice_application_sid="AP" + "d" * 32)
    result = connect(api, NUMBER)
    assert result.exit_code == 0, result.output
    assert api.posts() == [
        {
            "VoiceUrl": "https://ivr.example.org/voice",
            "VoiceMethod": "POST",
            "VoiceFallbackUrl": "https://ivr.example.org/voice/fallback",
            "VoiceApplicationSid": "",
            "StatusCallback": "https://ivr.example.org/voice/status",
        }
    ]
    assert f"POST {API}/{SID}.json" in [f"{m} {u}" for m, u, *_ in api.requests]
    assert "  Voice method: GET -> POST" in result.output
    assert f"  TwiML App (overrides the URLs): AP{'d' * 32} -> (none)" in result.output
    assert "    Voice URL: https://ivr.example.org/voice" in result.output.split("Done. Now:")[1]
    again = connect(api, NUMBER)
    assert again.exit_code == 0 and "Already pointing at this service: nothing to change." in again.output
    assert len(api.posts()) == 1


@pytest.mark.usefixtures("env")
def test_all_four_settings_are_sent_when_all_differ(api: FakeTwilioApi) -> None:
    api.numbers[SID].update(voice_method="GET", voice_fallback_method="GET")
    assert connect(api, NUMBER).exit_code == 0
    assert set(api.posts()[0]) == {"VoiceUrl", "VoiceMethod", "VoiceFallbackUrl", "VoiceFallbackMethod", "StatusCallback"}


@pytest.mark.usefixtures("env")
def test_a_number_not_on_the_account_is_a_clear_error(api: FakeTwilioApi) -> None:
    result = connect(api, "+3225550142")
    assert result.exit_code == 1
    assert f"+3225550142 is not a phone number of account {ACCOUNT}" in result.output
    assert "Numbers on this account: +3225550100, +3225550199." in result.output
    assert api.posts() == []


@pytest.mark.usefixtures("env")
def test_a_number_on_a_sip_trunk_is_refused(api: FakeTwilioApi) -> None:
    api.numbers[SID]["trunk_sid"] = "TK" + "e" * 32
    result = connect(api, NUMBER)
    assert result.exit_code == 1 and "detach it from the trunk" in result.output
    assert api.posts() == []


@pytest.mark.usefixtures("env")
def test_refused_credentials_are_a_clear_error(api: FakeTwilioApi) -> None:
    api.status = 401
    result = connect(api, NUMBER)
    assert result.exit_code == 1
    assert "Twilio refused to list the account's numbers (HTTP 401, error 20003)" in result.output
    assert "Check TWILIO_ACCOUNT_SID and the credentials." in result.output


@pytest.mark.usefixtures("env")
def test_a_refused_update_is_a_clear_error(api: FakeTwilioApi) -> None:
    api.refuse_updates = True
    result = connect(api, NUMBER)
    assert result.exit_code == 1
    assert (
        f"Twilio refused to update {NUMBER} (HTTP 400, error 21402): Unable to update record: VoiceUrl is not valid."
        in result.output
    )


def test_an_api_key_pair_is_used_when_set(api: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_API_KEY", "SK" + "f" * 32)
    monkeypatch.setenv("TWILIO_API_SECRET", "key-secret")
    result = connect(api, NUMBER, "--dry-run", "--public-url", "https://other.example.org/")
    assert result.exit_code == 0, result.output
    assert api.requests[0][4] == ("SK" + "f" * 32, "key-secret")
    assert "-> https://other.example.org/voice" in result.output


@pytest.mark.parametrize(
    ("variables", "args", "message"),
    [
        ({}, [NUMBER], "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT}, [NUMBER], "No Twilio credentials"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_API_KEY": "SK1"}, [NUMBER], "Set both TWILIO_API_KEY"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t"}, [NUMBER], "IVR_PUBLIC_URL is not set"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t"}, ["02 555 01 00", "--public-url", "https://x.org"], "E.164"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t"}, [NUMBER, "--public-url", "ftp://x.org"], "https://"),
    ],
)
def test_missing_settings_say_what_to_set(
    api: FakeTwilioApi, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], args: list[str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = connect(api, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert api.posts() == []


@pytest.mark.usefixtures("env")
def test_the_fallback_url_can_point_at_another_host(api: FakeTwilioApi) -> None:
    bin_url = "https://handler.twilio.com/twiml/EH" + "e" * 32
    result = connect(api, NUMBER, "--fallback-url", bin_url)
    assert result.exit_code == 0, result.output
    assert api.posts() == [
        {
            "VoiceUrl": "https://ivr.example.org/voice",
            "VoiceFallbackUrl": bin_url,
            "StatusCallback": "https://ivr.example.org/voice/status",
        }
    ]
    assert "Note: the fallback URL is on this service's host" not in result.output


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("url", "why"), [("https://ivr.example.org/static/fallback.xml", "same host"), ("ftp://example.org/f.xml", "https://")]
)
def test_a_fallback_url_on_the_same_host_or_not_http_is_refused(api: FakeTwilioApi, url: str, why: str) -> None:
    result = connect(api, NUMBER, "--fallback-url", url)
    assert result.exit_code == 1 and why in result.output and api.posts() == []
