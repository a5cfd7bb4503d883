"""Acting as Twilio: signed requests, and its answers read with the service's own TwiML follower."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit
from xml.etree import ElementTree

import xmlschema
from flask.testing import FlaskClient

from ivr.security import sign
from ivr.simulate import Listen, ReadAnswer, Redirect, Ring, query_of, read_twiml

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ivr.example.org"
CALL = {
    "CallSid": "CA0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+32470123456",
    "To": "+3225550100",
    "CallStatus": "in-progress",
    "ApiVersion": "2010-04-01",
    "Direction": "inbound",
}


@dataclass
class TwilioClient:
    """Acts as Twilio: POSTs signed form requests and parses the TwiML answers."""

    client: FlaskClient
    token: str = TOKEN
    public: str = PUBLIC

    def post(
        self,
        path: str,
        fields: Mapping[str, str] | None = None,
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TwiML:
        form = {**CALL, **(fields or {})}
        if signature is None:
            signature = sign(self.token, self.public + path, form)
        response = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})})
        return TwiML(response.status_code, response.headers.get("Content-Type", ""), response.get_data(as_text=True))

    def follow(self, url: str, digits: str | None = None, **fields: str) -> TwiML:
        """Request an action URL from a previous answer, as Twilio would."""
        path = urlsplit(url)
        relative = path.path + (f"?{path.query}" if path.query else "")
        extra = dict(fields)
        if digits is not None:
            extra["Digits"] = digits
        return self.post(relative, extra)


@dataclass
class TwiML:
    """One answer of the webhook, read with the service's own TwiML follower (:func:`ivr.simulate.read_twiml`)."""

    status: int
    content_type: str
    body: str

    @property
    def root(self) -> ElementTree.Element:
        """The XML itself, for the attributes a caller does not follow (voice, loop, finishOnKey…)."""
        return ElementTree.fromstring(self.body)

    @cached_property
    def read(self) -> ReadAnswer:
        return read_twiml(self.body)

    def verbs(self) -> list[str]:
        return self.read.tags()

    def texts(self) -> list[str]:
        return [heard.text for heard in self.read.heard() if heard.verb == "say"]

    def spoken(self) -> str:
        return self.read.said()

    def gather(self) -> Listen:
        listen = self.read.first(Listen)
        assert listen is not None, self.body
        return listen

    def dial(self) -> Ring:
        ring = self.read.first(Ring)
        assert ring is not None, self.body
        return ring

    def gather_action(self) -> str:
        return self.gather().action

    def redirect(self) -> str:
        redirect = self.read.first(Redirect)
        assert redirect is not None, self.body
        return redirect.url

    def state(self) -> dict[str, str]:
        return query_of(self.gather_action())


def assert_twiml_a_caller_can_follow(answer: TwiML, *, speech: bool = False) -> None:
    """What the schema cannot say: each <Gather> takes one key (and speech only where the flow turns it on),
    and a <Redirect> to the same action follows it, so that silence goes on instead of hanging up."""
    verbs = answer.read.verbs
    for position, verb in enumerate(verbs):
        if isinstance(verb, Listen):
            assert verb.input == ("dtmf speech" if speech else "dtmf"), answer.body
            assert verb.num_digits == "1", answer.body
            after = verbs[position + 1] if position + 1 < len(verbs) else None
            assert isinstance(after, Redirect) and after.url == verb.action, answer.body


def assert_valid_twiml(schema: xmlschema.XMLSchema, answer: TwiML, *, speech: bool = False) -> TwiML:
    """Twilio-acceptable TwiML (schema, type, size, no leading space) that a caller can follow."""
    assert answer.status == 200, answer.body
    assert answer.content_type.startswith("text/xml"), answer.content_type
    assert answer.body.startswith("<?xml"), answer.body[:40]
    assert len(answer.body.encode()) < 64 * 1024
    schema.validate(answer.body)
    assert_twiml_a_caller_can_follow(answer, speech=speech)
    return answer


def digits_in(text: str) -> str:
    """The digits a caller hears in spoken text ("1 0 6" -> "106")."""
    return re.sub(r"[^0-9]", "", text)
