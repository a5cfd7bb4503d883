"""Point a Twilio phone number at this service, and send text messages, through Twilio's REST API.

The only module that imports ``twilio.rest``. :class:`TwilioTexts` sends the line's number by
text message (ivr.text_sender runs it off the request path). :func:`connect` reads the number's current voice
settings, works out what must change (Voice URL ``…/voice``, Voice Fallback URL
``…/voice/fallback`` and the call status callback ``…/voice/status``, all POST, from
``IVR_PUBLIC_URL``) and changes only that, or
just says what it would change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.loader import E164
from ivr.settings import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, PUBLIC_URL, SettingsError, public_url

WEBHOOK = "/voice"
FALLBACK = "/voice/fallback"
STATUS = "/voice/status"  # the end of each call, for the statistics (ivr.stats.web)


class ConnectError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True, slots=True)
class NumberSettings:
    """The voice settings of one IncomingPhoneNumber."""

    sid: str
    phone_number: str
    friendly_name: str
    voice_url: str
    voice_method: str
    voice_fallback_url: str
    voice_fallback_method: str
    voice_application_sid: str
    trunk_sid: str
    status_callback: str = ""
    status_callback_method: str = ""

    @classmethod
    def of(cls, record: Any) -> NumberSettings:
        def text(name: str) -> str:
            return str(getattr(record, name, None) or "")

        return cls(
            text("sid"),
            text("phone_number"),
            text("friendly_name"),
            text("voice_url"),
            text("voice_method"),
            text("voice_fallback_url"),
            text("voice_fallback_method"),
            text("voice_application_sid"),
            text("trunk_sid"),
            text("status_callback"),
            text("status_callback_method"),
        )


# What each changeable field is called on the console, in the order they are shown.
FIELDS = {
    "voice_url": "Voice URL",
    "voice_method": "Voice method",
    "voice_fallback_url": "Voice Fallback URL",
    "voice_fallback_method": "Voice Fallback method",
    "voice_application_sid": "TwiML App (overrides the URLs)",
    "status_callback": "Call status changes",
    "status_callback_method": "Call status method",
}


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{FIELDS[self.field]}: {self.old or '(none)'} -> {self.new or '(none)'}"


def credentials(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(username, password, account SID) from TWILIO_API_KEY/SECRET or TWILIO_AUTH_TOKEN.

    Raises:
        ConnectError: a variable is missing.
    """
    account = ACCOUNT_SID.read(env)
    if not account:
        raise ConnectError("TWILIO_ACCOUNT_SID is not set: copy the Account SID (AC…) from the Twilio console.")
    key, secret = API_KEY.read(env), API_SECRET.read(env)
    if key or secret:
        if not (key and secret):
            raise ConnectError("Set both TWILIO_API_KEY (SK…) and TWILIO_API_SECRET, or neither to use TWILIO_AUTH_TOKEN.")
        return key, secret, account
    token = AUTH_TOKEN.read(env)
    if not token:
        raise ConnectError("No Twilio credentials: set TWILIO_AUTH_TOKEN, or both TWILIO_API_KEY and TWILIO_API_SECRET.")
    return account, token, account


def wanted(public_url: str, fallback_url: str | None = None) -> dict[str, str]:
    """The voice settings that send the number's calls to the service at ``public_url``, and
    its fallback to ``fallback_url`` (default: the service's own ``/voice/fallback``)."""
    base = public_url.rstrip("/")
    return {
        "voice_url": base + WEBHOOK,
        "voice_method": "POST",
        "voice_fallback_url": fallback_url or base + FALLBACK,
        "voice_fallback_method": "POST",
        "voice_application_sid": "",  # a TwiML App would override the URLs
        "status_callback": base + STATUS,
        "status_callback_method": "POST",
    }


def changes(current: NumberSettings, target: Mapping[str, str]) -> list[Change]:
    return [Change(name, getattr(current, name), value) for name, value in target.items() if getattr(current, name) != value]


def describe(number: NumberSettings) -> list[str]:
    lines = [f"{number.phone_number} ({number.friendly_name or 'no name'}, {number.sid})"]
    lines += [f"  {label}: {getattr(number, name) or '(none)'}" for name, label in FIELDS.items()]
    if number.trunk_sid:
        lines.append(f"  SIP trunk (overrides everything): {number.trunk_sid}")
    return lines


def _refusal(exc: BaseException) -> tuple[int, object, str] | None:
    """(HTTP status, Twilio error code, message) when Twilio answered with an error; None when it was not reached."""
    if isinstance(exc, TwilioRestException):
        return exc.status, exc.code, exc.msg
    # Listing raises TwilioException("Unable to fetch page", response) with the raw response.
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    try:
        payload = json.loads(getattr(response, "text", "") or "{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return status, payload.get("code", "?"), str(payload.get("message") or payload.get("detail") or "no details")


class TwilioNumbers:
    """The account's phone numbers, through twilio's REST client."""

    def __init__(self, env: Mapping[str, str], http_client: HttpClient | None = None) -> None:
        username, password, account = credentials(env)
        self.account = account
        self.client = Client(username, password, account, http_client=http_client)

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except (TwilioException, OSError) as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise ConnectError(f"Could not reach Twilio to {what}: {exc}") from exc
            status, code, message = refusal
            hint = " Check TWILIO_ACCOUNT_SID and the credentials." if status in (401, 403) else ""
            raise ConnectError(f"Twilio refused to {what} (HTTP {status}, error {code}): {message}.{hint}") from exc

    def find(self, phone_number: str) -> NumberSettings:
        """The number's settings.

        Raises:
            ConnectError: the number is not on the account (the message lists those that are).
        """
        found = self._call(
            "list the account's numbers", lambda: self.client.incoming_phone_numbers.list(phone_number=phone_number, limit=20)
        )
        exact = [record for record in found if record.phone_number == phone_number]
        if exact:
            return NumberSettings.of(exact[0])
        others = self._call("list the account's numbers", lambda: self.client.incoming_phone_numbers.list(limit=20))
        listed = ", ".join(record.phone_number for record in others) or "none"
        raise ConnectError(
            f"{phone_number} is not a phone number of account {self.account}. Numbers on this account: {listed}. "
            "Buy or port the number first, or check TWILIO_ACCOUNT_SID (a subaccount has its own numbers)."
        )

    def update(self, number: NumberSettings, target: Mapping[str, str]) -> NumberSettings:
        record = self._call(
            f"update {number.phone_number}", lambda: self.client.incoming_phone_numbers(number.sid).update(**dict(target))
        )
        return NumberSettings.of(record)


def check_number(phone_number: str) -> str:
    """The number, if it is E.164.

    Raises:
        ConnectError: it is not.
    """
    if not E164.fullmatch(phone_number):
        raise ConnectError(f"{phone_number!r} is not an E.164 number: write it like +3225550100 (+, country code, number).")
    return phone_number


def public_base(env: Mapping[str, str], given: str | None) -> str:
    """The service's public base URL.

    Raises:
        ConnectError: none given, or not http(s).
    """
    base = given or env.get(PUBLIC_URL.name)
    if not base:
        raise ConnectError(
            "IVR_PUBLIC_URL is not set: set it to the base URL where Twilio reaches this service, e.g. https://ivr.example.org"
        )
    try:
        return public_url(base)
    except SettingsError as exc:
        raise ConnectError(f"{exc}.") from None


def connect(
    phone_number: str,
    base: str,
    numbers: TwilioNumbers,
    out: Callable[[str], None],
    *,
    dry_run: bool,
    fallback_url: str | None = None,
) -> NumberSettings:
    """Show the number's settings, then change what differs (or only say so with ``dry_run``).

    Raises:
        ConnectError: the number is not on the account, uses a SIP trunk, or Twilio refused.
    """
    current = numbers.find(check_number(phone_number))
    out("Now:")
    for line in describe(current):
        out("  " + line)
    if current.trunk_sid:
        raise ConnectError(
            f"{phone_number} is attached to SIP trunk {current.trunk_sid}, which overrides voice URLs: "
            "detach it from the trunk in the Twilio console first."
        )
    if base.startswith("http://"):
        out("Warning: the public URL is plain http; use https so that calls' keypresses are encrypted.")
    if fallback_url is None:
        out("Note: the fallback URL is on this service's host; export it to another (ivr fallback export, --fallback-url).")
    elif not fallback_url.startswith(("https://", "http://")):
        raise ConnectError(f"The fallback URL must start with https:// (got {fallback_url!r}).")
    elif fallback_url.startswith(base + "/"):
        raise ConnectError(f"The fallback URL {fallback_url} is on the same host as the service: it would fail with it.")
    target = wanted(base, fallback_url)
    todo = changes(current, target)
    if not todo:
        out("Already pointing at this service: nothing to change.")
        return current
    out("Dry run: would change:" if dry_run else "Changing:")
    for change in todo:
        out(f"  {change}")
    if dry_run:
        out("Dry run: nothing was changed.")
        return current
    updated = numbers.update(current, {change.field: change.new for change in todo})
    out("Done. Now:")
    for line in describe(updated):
        out("  " + line)
    return updated


# The client logs each request's URL and headers at INFO: never the body, which holds a caller's number, but
# nothing of a message is worth a line.
_QUIET = logging.getLogger("ivr.texts.http")
_QUIET.setLevel(logging.WARNING)
ACCEPTED, REFUSED, FAILED = "accepted", "refused", "failed"


class TwilioTexts:
    """Sends one text message per call through the Messages API, with the real twilio client."""

    def __init__(
        self,
        credentials: tuple[str, str],
        account: str,
        *,
        sender: str = "",
        messaging_service: str = "",
        api_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = Client(*credentials, account, http_client=TwilioHttpClient(timeout=timeout, logger=_QUIET))
        if api_url:
            self.client.api.base_url = api_url  # a stand-in for Twilio (tests), or a proxy
        # A Messaging Service picks the sender itself (and keeps to its own rules); else our SMS-capable number.
        self.sender = {"messaging_service_sid": messaging_service} if messaging_service else {"from_": sender}

    def send(self, to: str, body: str) -> tuple[str, int | None]:
        """(ACCEPTED, None), (REFUSED, Twilio's error code) or (FAILED, None: Twilio not reached, or no answer).

        Nothing of an exception leaves here but its code: Twilio's error texts quote the number.
        """
        try:
            self.client.messages.create(to=to, body=body, **self.sender)
        except TwilioRestException as exc:
            return REFUSED, exc.code if isinstance(exc.code, int) else None
        except (TwilioException, OSError, ValueError):
            return FAILED, None
        return ACCEPTED, None
