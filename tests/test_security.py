"""Signature checks: twilio's validator, fed the URL Twilio really called."""

from __future__ import annotations

from ivr.security import is_signed_by_twilio, sign, signed_url
from support import TwilioClient

# The vector twilio-python's own tests pin (tests/unit/test_request_validator.py).
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_known_vector() -> None:
    assert sign("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    assert is_signed_by_twilio("12345", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)
    # Twilio's port handling differs between products: with and without :443 both validate.
    assert is_signed_by_twilio("12345", VECTOR_URL.replace(".com/", ".com:443/"), VECTOR_PARAMS, VECTOR_SIGNATURE)
    assert not is_signed_by_twilio("12345", VECTOR_URL, {**VECTOR_PARAMS, "Digits": "1235"}, VECTOR_SIGNATURE)
    assert not is_signed_by_twilio("12345", VECTOR_URL, VECTOR_PARAMS, None)
    assert not is_signed_by_twilio("54321", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_signed_url_uses_the_public_base_and_the_raw_path() -> None:
    assert signed_url("https://ivr.example.org", "http", "10.0.0.5:8000", "/voice/step?lang=nl&x=%27") == (
        "https://ivr.example.org/voice/step?lang=nl&x=%27"
    )
    assert signed_url(None, "http", "127.0.0.1:5000", "/voice?") == "http://127.0.0.1:5000/voice"


def test_behind_a_proxy_the_public_url_validates(twilio: TwilioClient) -> None:
    # The app sees http and an internal host; Twilio signed the public https URL.
    answer = twilio.post("/voice", headers={"X-Forwarded-Proto": "https", "Host": "internal:8000"})
    assert answer.status == 200


def test_without_public_url_the_request_host_is_used(app_without_public_url: TwilioClient) -> None:
    assert app_without_public_url.post("/voice").status == 200
    wrong_host = TwilioClient(app_without_public_url.client, public="https://elsewhere.example")
    assert wrong_host.post("/voice").status == 403
