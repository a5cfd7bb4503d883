"""/simulator: who may open it, and its JSON API driving the real (signed) webhook."""

from __future__ import annotations

import base64
from dataclasses import replace
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.app import create_app
from ivr.settings import Settings
from support import DATA


def mini_app(settings: Settings, **changes: Any) -> Flask:
    return create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", **changes))


def basic(password: str, user: str = "operator") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def dev(settings: Settings) -> FlaskClient:
    """Development mode, with the signature checks still on (a token is set)."""
    return mini_app(settings, dev_mode=True).test_client()


def call(client: FlaskClient, **headers: str) -> dict[str, Any]:
    response = client.post("/simulator/api/call", json={}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def step(client: FlaskClient, answer: dict[str, Any], **payload: Any) -> dict[str, Any]:
    response = client.post("/simulator/api/step", json={"call": answer["call"], **payload})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def gather(answer: dict[str, Any]) -> dict[str, Any]:
    return next(verb for verb in answer["verbs"] if verb["verb"] == "gather")


# --- access ------------------------------------------------------------------------------------


def test_production_without_a_password_has_no_simulator(settings: Settings) -> None:
    client = mini_app(settings).test_client()
    for path in ("/simulator", "/simulator/static/simulator.js", "/simulator/diagram?flow=mini&lang=nl"):
        with client.get(path) as response:
            assert response.status_code == 404
    assert client.post("/simulator/api/call", json={}).status_code == 404


def test_production_with_a_password_asks_for_it(settings: Settings) -> None:
    client = mini_app(settings, admin_password="correct horse").test_client()
    refused = client.get("/simulator")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Basic realm="helpline-ivr simulator"')
    assert client.get("/simulator", headers=basic("wrong")).status_code == 401
    assert client.post("/simulator/api/call", json={}, headers=basic("wrong")).status_code == 401
    assert client.get("/simulator", headers={"Authorization": "Bearer correct horse"}).status_code == 401
    assert client.get("/simulator", headers=basic("correct horse")).status_code == 200
    assert client.post("/simulator/api/call", json={}, headers=basic("correct horse")).status_code == 200


def test_dev_mode_opens_it_without_a_password(dev: FlaskClient) -> None:
    page = dev.get("/simulator")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'aria-live="polite"' in html and 'aria-label="Keypad"' in html
    assert "test-auth-token" not in html  # the page never sees the token
    with dev.get("/simulator/static/simulator.js") as script:
        assert script.status_code == 200 and "aria" not in script.content_type


def test_the_page_shows_the_diagram_with_node_ids(dev: FlaskClient) -> None:
    html = unescape(dev.get("/simulator").get_data(as_text=True))  # Graphviz writes '-' as &#45;
    for node in ("welcome", "main", "info", "line", "bye"):
        assert f'id="node-{node}"' in html
    fragment = dev.get("/simulator/diagram?flow=mini&lang=fr")
    assert fragment.status_code == 200 and "Appelez Télé&#45;Accueil au 1 0 7." in fragment.get_data(as_text=True)
    assert dev.get("/simulator/diagram?flow=mini&lang=xx").status_code == 400
    assert dev.get("/simulator/diagram?flow=../etc&lang=fr").status_code == 400


def test_without_graphviz_the_diagram_is_a_list_with_the_same_ids(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")  # no `dot`
    html = mini_app(settings, dev_mode=True).test_client().get("/simulator").get_data(as_text=True)
    assert '<ul class="node-list">' in html and 'id="node-main"' in html


# --- the API ------------------------------------------------------------------------------------


def test_a_call_goes_through_the_signed_webhook(dev: FlaskClient) -> None:
    welcome = call(dev)
    assert welcome["node"] == "welcome" and welcome["kind"] == "language"
    assert welcome["twiml"].startswith("<?xml")
    first = gather(welcome)
    assert first["timeout"] == 5
    assert [h["text"] for h in first["heard"]] == ["Nederlands: druk 1.", "Français: tapez 2."]
    assert [h["lang"] for h in first["heard"]] == ["nl", "fr"]
    assert welcome["verbs"][-1] == {"verb": "redirect", "url": first["action"]}

    menu = step(dev, welcome, url=first["action"], digits="2")
    assert (menu["node"], menu["lang"]) == ("main", "fr")
    assert gather(menu)["heard"][1]["text"] == "Info: tapez 3. Parler: tapez 0."
    assert gather(menu)["heard"][1]["seconds"] == 2.4  # 6 words at 2.5 words per second

    line = step(dev, menu, url=gather(menu)["action"], digits="0")
    said = line["verbs"][0]  # the number: a <Say> of its own, before the <Gather>
    assert line["node"] == "line" and said["text"] == "Appelez Télé-Accueil: 1 0 7."
    assert said["line"] == "Télé-Accueil" and said["line_at"] == said["seconds"]


def test_silence_follows_the_redirect_and_reprompts(dev: FlaskClient) -> None:
    welcome = call(dev)
    menu = step(dev, welcome, url=gather(welcome)["action"], digits="2")
    again = step(dev, menu, url=menu["verbs"][-1]["url"])
    assert gather(again)["heard"][0]["text"] == "Rien entendu."
    assert "ni=1" in gather(again)["action"]


def test_transfers_ask_for_the_outcome_and_follow_it(dev: FlaskClient) -> None:
    welcome = call(dev)
    menu = step(dev, welcome, url=gather(welcome)["action"], digits="1")
    dialling = step(dev, menu, url=gather(menu)["action"], digits="0")
    ring = next(verb for verb in dialling["verbs"] if verb["verb"] == "dial")
    assert ring["number"] == "…01" and ring["timeout"] == 15  # +3290000001: a page shows a target's last two digits
    second = step(dev, dialling, url=ring["action"], dial_status="busy")
    assert next(v for v in second["verbs"] if v["verb"] == "dial")["number"] == "…02"
    done = step(dev, dialling, url=ring["action"], dial_status="completed")
    assert done["verbs"] == [{"verb": "hangup"}]


def test_the_last_answer_of_a_call_names_its_node_from_the_speech(dev: FlaskClient) -> None:
    welcome = call(dev)
    menu = step(dev, welcome, url=gather(welcome)["action"], digits="2")
    bye = step(dev, menu, url=gather(menu)["action"], digits="4")
    assert [verb["verb"] for verb in bye["verbs"]] == ["say", "hangup"]
    assert bye["node"] == "bye" and bye["kind"] == "goodbye"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"url": "/healthz"}, "not a voice webhook URL"),
        ({"url": "https://evil.example/voice/step"}, None),
        ({"url": "/voice/step", "digits": "1" * 21}, "'digits'"),
        ({"url": "/voice/step", "digits": 5}, "'digits'"),
        ({"url": "/voice/dial", "dial_status": "exploded"}, "'dial_status'"),
        ({"url": None}, "'url'"),
        ({"url": "/voice/step", "call": "CA-not-a-sid"}, "'call'"),
        ({"url": "/voice/step", "call": None}, "'call' is required"),
        ({"url": "/voice/step", "to": "+3299999999"}, "'to'"),
    ],
)
def test_bad_requests_get_a_400_with_a_reason(dev: FlaskClient, payload: dict[str, Any], error: str | None) -> None:
    body = {"call": "CA" + "0" * 32, **payload}
    response = dev.post("/simulator/api/step", json=body)
    assert response.status_code == 400
    if error:
        assert error in response.get_json()["error"]


def test_the_api_takes_json_only(dev: FlaskClient) -> None:
    # A cross-site HTML form cannot send JSON without a CORS preflight, which is never allowed.
    response = dev.post("/simulator/api/call", data={"to": ""})
    assert response.status_code == 400 and response.get_json() == {"error": "send a JSON object"}
    assert dev.post("/simulator/api/step", data="[]", content_type="application/json").status_code == 400


def test_a_called_number_sets_the_default_language(dev: FlaskClient) -> None:
    response = dev.post("/simulator/api/call", json={"to": "+3225550101"})
    assert response.status_code == 200
    assert response.get_json()["lang"] == "fr" and response.get_json()["to"] == "+3225550101"


def test_the_simulator_follows_the_same_webhook_without_a_token(settings: Settings) -> None:
    client = mini_app(settings, dev_mode=True, auth_token=None).test_client()
    welcome = call(client)
    assert gather(welcome)["heard"][1]["text"] == "Français: tapez 2."


def test_signed_requests_use_the_public_url_when_set(settings: Settings) -> None:
    # IVR_PUBLIC_URL makes the webhook check signatures against it, not the request's host.
    client = mini_app(settings, dev_mode=True, public_url="https://ivr.example.org").test_client()
    welcome = call(client)
    assert welcome["node"] == "welcome"


@pytest.mark.parametrize(
    "body",
    ['{"a": ' * 1000 + "1" + "}" * 1000, "[" * 30_000 + "]" * 30_000, '{"to": "", "x": ' + "[" * 5000 + "]" * 5000 + "}"],
    ids=["objects 1,000 deep", "arrays 30,000 deep", "a deep field"],
)
@pytest.mark.parametrize("path", ["/simulator/api/call", "/simulator/api/step"])
def test_a_deeply_nested_json_body_is_a_400_with_a_json_error(dev: FlaskClient, path: str, body: str) -> None:
    response = dev.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": "send a JSON object"}


# Wrong passwords (limited per client, never refusing the right one): tests/test_guard.py.
