"""Twilio request signatures: the only module that imports ``twilio.request_validator``."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterator, Mapping

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
    if not signature:
        return False
    validator = _validator(auth_token)
    fields = _Fields(form)
    # The signature of the exact URL, first: that is what Twilio signs, and it costs one HMAC.
    # validate() tries the URL with and without its port (two HMACs and URL parsing); it only
    # runs for the requests that fail the exact check, so a valid request pays half.
    if hmac.compare_digest(validator.compute_signature(url, fields).encode(), signature.encode("utf-8", "replace")):
        return True
    return bool(validator.validate(url, fields, signature))


class _Fields:
    """POST fields as twilio's validator reads them first: ``getall`` (Werkzeug's MultiDict has
    ``getlist``, which the validator reaches only after an AttributeError for every field)."""

    def __init__(self, form: Mapping[str, str]) -> None:
        self.form = form
        getlist = getattr(form, "getlist", None)
        self.getall = getlist if getlist is not None else lambda name: [form[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.form)

    def __bool__(self) -> bool:
        return bool(self.form)


@functools.lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def sign(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """The signature Twilio would send; used by the simulator and the tests."""
    return str(RequestValidator(auth_token).compute_signature(url, form))
