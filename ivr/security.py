"""Twilio request signatures: the only module that imports ``twilio.request_validator``."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_url(public_base: str | None, scheme: str, host: str, full_path: str) -> str:
    """The URL Twilio signed: the public base (behind a proxy) or our own, plus the raw path and query.

    ``full_path`` must be the raw one (Flask's ``request.full_path``): ``request.url``
    decodes ``%27`` and friends and would break valid signatures.
    """
    path = full_path[:-1] if full_path.endswith("?") else full_path
    base = public_base.rstrip("/") if public_base else f"{scheme}://{host}"
    return base + path


def is_signed_by_twilio(auth_token: str, url: str, form: Mapping[str, str], signature: str | None) -> bool:
    """True when ``signature`` is Twilio's HMAC-SHA1 of ``url`` and the POST fields."""
    return bool(signature) and bool(RequestValidator(auth_token).validate(url, form, signature))


def sign(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """The signature Twilio would send; used by the simulator and the tests."""
    return str(RequestValidator(auth_token).compute_signature(url, form))
