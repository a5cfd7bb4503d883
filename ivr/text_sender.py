"""Sending the line's number by text message, off the request path.

The webhook only hands the caller's number and the message over and answers at once: the send
runs in a thread of its own (:class:`ivr.stats.recorder.OffLoop`, gevent-safe, as the statistics'
writes), so a slow or unreachable Messages API never delays a caller. The caller's number lives
only in that hand-over, in memory, until the send returns: it is never stored and never logged.
The outcome (accepted or refused by Twilio, or Twilio not reached) goes to the statistics only;
the caller has already been told, whatever happens, that the message is on its way, with the
number again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from ivr.logs import get_logger
from ivr.settings import TextSettings
from ivr.stats.recorder import OffLoop
from ivr.texting import Text, may_receive

log = get_logger()
MAX_PENDING = 20  # sends waiting for Twilio at once; more are dropped (and counted): a hung API cannot grow memory
DROPPED = "dropped"

Counted = Callable[[Text, str], None]  # (the message sent, its outcome)


class Messages(Protocol):
    def send(self, to: str, body: str) -> tuple[str, int | None]: ...


class TextSender:
    """Who may be offered a text, and the sends themselves, each in the background."""

    def __init__(self, settings: TextSettings, messages: Messages | None = None) -> None:
        self.countries = settings.countries
        self._settings = settings
        self._messages = messages
        self._offloop = OffLoop(threads=2)
        self._lock = threading.Lock()
        self._pending = 0
        self.counted: list[Counted] = []  # the statistics' counters (ivr.stats.web)

    def may_text(self, caller: str | None) -> bool:
        return may_receive(caller, self.countries)

    def messages(self) -> Messages:
        if self._messages is None:
            from ivr.twilio_connect import TwilioTexts  # the REST client only where texts are on

            s = self._settings
            self._messages = TwilioTexts(
                s.credentials, s.account_sid, sender=s.sender, messaging_service=s.messaging_service, api_url=s.api_url
            )
        return self._messages

    def send(self, caller: str, text: Text) -> None:
        """Start sending ``text`` to ``caller``, and return at once."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._count(text, DROPPED, None)
                return
            self._pending += 1

        def run() -> None:
            try:
                try:
                    outcome, code = self.messages().send(caller, text.body)
                except Exception:  # noqa: BLE001 - never its text: it may quote the number
                    outcome, code = "failed", None
                self._count(text, outcome, code)
            finally:
                with self._lock:
                    self._pending -= 1

        self._offloop.run(run, 0)  # no wait: it goes on in its thread

    def wait(self, timeout: float = 15.0) -> bool:
        """Wait for the sends under way (``ivr simulate``, before its process ends); True when none is left."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._pending

    def _count(self, text: Text, outcome: str, code: int | None) -> None:
        if outcome != "accepted":
            # Twilio's error code says why (21408: the country is not enabled; 21610: the number opted out).
            log.warning("text message not sent", extra={"outcome": f"text_{outcome}", "lang": text.lang, "error": code})
        for counted in self.counted:
            try:
                counted(text, outcome)
            except Exception:  # noqa: BLE001, S112 - a count never stops the others
                continue


def text_sender(settings: TextSettings | None, messages: Messages | None = None) -> TextSender | None:
    return TextSender(settings, messages) if settings is not None else None
