"""Property tests of the webhook: whatever a signed request carries, the caller is never left alone.

Each example is one request, signed as Twilio would sign it, to a webhook route, with arbitrary
Digits, SpeechResult, CallStatus and DialCallStatus, Twilio's usual fields missing or replaced,
arbitrary values for the state the app writes into its own URLs, and arbitrary extra parameters.
The answer must be 200 with TwiML that validates against Twilio's schema and lets the call go on,
or 403 (bad signature) or 404 (unknown path); never a 5xx.

The "ci" Hypothesis profile (tests/conftest.py) runs a fixed set of examples; run
``HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py`` to explore further.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import xmlschema
from flask.testing import FlaskClient
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from ivr.app import create_app
from ivr.model import Catalog, TransferNode
from ivr.security import sign
from ivr.settings import Settings
from ivr.simulate import Listen, Redirect, Ring, query_of
from support import CALL, DATA, PUBLIC, SHIPPED_CONFIG, SHIPPED_FLOWS, TOKEN, TwiML, assert_valid_twiml

pytestmark = pytest.mark.slow  # hundreds of Hypothesis examples per property

ROUTES = ("/voice", "/voice/step", "/voice/dial", "/voice/fallback")
FALLBACK = "/voice/fallback"
WHISPER = "/voice/whisper"
STATUS = "/voice/status"
STATE_PARAMETERS = ("flow", "lang", "ni", "node", "t", "wk")
CONNECTED = ("completed", "answered")
CALL_STATUSES = ("queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled")
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")


@dataclass(frozen=True)
class Request:
    target: str
    route: str
    method: str
    values: dict[str, str]


@dataclass(frozen=True)
class Target:
    """One app under test, with what the checks need to know about its configuration."""

    name: str
    client: FlaskClient = field(repr=False)
    catalog: Catalog = field(repr=False)

    def line_numbers(self) -> tuple[str, ...]:
        """Every listening line's number as the caller hears it ("1 0 6")."""
        lines = {self.catalog.line_for(lang) for lang in self.catalog.settings.offered}
        return tuple(" ".join(re.sub(r"[^0-9]", "", line.number)) for line in lines)

    def listens_for_speech(self, values: Mapping[str, str]) -> bool:
        """Whether this app's menus take speech on this call: the called number's setting, else the deployment's."""
        own = self.catalog.serving(values.get("To", "")).speech
        return self.catalog.settings.speech.enabled if own is None else own

    def transfer_nodes(self) -> set[str]:
        return {node.id for flow in self.catalog.flows.values() for node in flow.nodes.values() if isinstance(node, TransferNode)}

    def names(self) -> dict[str, tuple[str, ...]]:
        """Values this app writes into its own URLs, so that many examples reach real states."""
        nodes = tuple(sorted({n for flow in self.catalog.flows.values() for n in flow.nodes}))
        return {
            "flow": tuple(sorted(self.catalog.flows)),
            "lang": tuple(self.catalog.settings.offered),
            "node": nodes,
            "ni": ("0", "1", "2", "3", "99"),
            "wk": ("0", "1", "2", "3", "99"),
            "t": ("0", "1", "2", "3", "99"),
        }


def _target(name: str, config_dir: Path, flows_dir: Path) -> Target:
    app = create_app(
        Settings(auth_token=TOKEN, public_url=PUBLIC, config_dir=config_dir, flows_dir=flows_dir, log_key=b"fuzz-log-key")
    )
    return Target(name, app.test_client(), app.extensions["ivr"].catalog)


@pytest.fixture(scope="module")
def targets() -> dict[str, Target]:
    """Built once per module: the shipped flow (four languages, numbers spoken) and the test flow (transfers)."""
    return {
        "shipped": _target("shipped", SHIPPED_CONFIG, SHIPPED_FLOWS),
        "mini": _target("mini", DATA / "config", DATA / "flows"),
    }


VALIDATED: set[tuple[str, bool]] = set()


def check_twiml(schema: xmlschema.XMLSchema, answer: TwiML, *, speech: bool) -> None:
    """The valid_twiml fixture's check; each distinct document once (most answers repeat)."""
    if (answer.body, speech) not in VALIDATED:
        assert_valid_twiml(schema, answer, speech=speech)
        VALIDATED.add((answer.body, speech))


def check_call_goes_on(
    target: Target, answer: TwiML, route: str, values: Mapping[str, str], query: Mapping[str, list[str]]
) -> None:
    """The caller gets a menu, a transfer, or the listening line's number; a bare hang-up only at a chosen end."""
    if set(answer.verbs()) & {"Gather", "Redirect", "Dial"}:
        return
    spoken = answer.spoken()
    if any(number in spoken for number in target.line_numbers()):
        return
    assert answer.verbs() == ["Hangup"], answer.body
    # The two ends a caller chooses: the transfer connected and the line hung up, or the caller stayed
    # silent after hearing the number at a transfer node.
    if route == "/voice/dial":
        assert values.get("DialCallStatus") in CONNECTED, answer.body
    else:
        assert route == "/voice/step", answer.body
        assert not values.get("Digits"), answer.body
        assert query.get("node", [""])[0] in target.transfer_nodes(), answer.body


def outcome(answer: TwiML) -> str:
    """Where the answer leaves the call, for Hypothesis' statistics (--hypothesis-show-statistics)."""
    gather = answer.read.first(Listen)
    if gather is not None:
        return "gather at " + query_of(gather.action).get("node", "?")
    return "+".join(answer.verbs())


# --- strategies ---------------------------------------------------------------------------------

# Any Unicode text a form can carry (no lone surrogates: they cannot be sent as UTF-8).
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# Parameter names: anything, or names that mean something to Twilio's validator or to us.
names = st.one_of(
    st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20),
    st.sampled_from(["bodySHA256", "Digits", "CallSid", "flow", "node", "lang", "ErrorCode", "ErrorUrl"]),
)
keys = st.sampled_from(list("0123456789*#"))
digits = st.one_of(
    keys,
    st.just(""),
    st.text(alphabet="0123456789*#", min_size=2, max_size=12),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=3),  # other scripts' digits
    text,
)


def maybe(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """None means: the parameter is missing."""
    return st.one_of(st.none(), strategy)


@st.composite
def signed_requests(draw: st.DrawFn) -> Request:
    fields: dict[str, str | None] = {
        "Digits": draw(maybe(digits)),
        "SpeechResult": draw(maybe(st.one_of(st.sampled_from(["praten", "Français", "respiration", "help"]), text))),
        "Confidence": draw(maybe(st.one_of(st.sampled_from(["0.9", "0.1", "nan", "inf", "-1", "1e309"]), text))),
        "CallStatus": draw(maybe(st.one_of(st.sampled_from(CALL_STATUSES), text))),
        "DialCallStatus": draw(maybe(st.one_of(st.sampled_from(DIAL_STATUSES), text))),
        "To": draw(maybe(st.one_of(st.sampled_from(["+3225550100", "+3225550101", "+15005550006"]), text))),
    }
    for usual in ("CallSid", "AccountSid", "From", "Direction", "ApiVersion"):
        fields[usual] = draw(st.one_of(st.just(CALL[usual]), maybe(text)))
    extra = draw(st.dictionaries(names, text, max_size=4))
    return Request(
        target=draw(st.sampled_from(["shipped", "mini"])),
        route=draw(st.sampled_from(ROUTES)),
        method=draw(st.sampled_from(["POST", "POST", "POST", "GET"])),
        values={k: v for k, v in {**extra, **fields}.items() if v is not None},
    )


def state_queries(real: Mapping[str, tuple[str, ...]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query pairs: each state parameter missing, a value the app writes, or anything; repeats and extras too."""

    def one(parameter: str) -> st.SearchStrategy[list[tuple[str, str]]]:
        # Mostly values the app writes, so that many examples reach real states past the welcome.
        written = st.sampled_from(real[parameter])
        present = st.one_of(written, written, written, text).map(lambda v: [(parameter, v)])
        return st.one_of(st.just([]), present, present)

    extras = st.lists(st.tuples(st.one_of(st.sampled_from(STATE_PARAMETERS), names), text), max_size=3)
    return st.tuples(*(one(p) for p in STATE_PARAMETERS), extras).map(lambda groups: [pair for g in groups for pair in g])


def send(
    target: Target,
    route: str,
    method: str,
    values: Mapping[str, str],
    state: list[tuple[str, str]],
    *,
    signature: str | None = None,
) -> TwiML:
    """Send a request as Twilio would: POST fields signed with the URL, or GET with everything in the URL."""
    query = urlencode(state, quote_via=quote)
    if method == "GET":
        query = "&".join(q for q in (query, urlencode(list(values.items()), quote_via=quote)) if q)
        form: Mapping[str, str] = {}
    else:
        form = values
    path = route + (f"?{query}" if query else "")
    if signature is None:
        signature = sign(TOKEN, PUBLIC + path, form)
    headers = {"X-Twilio-Signature": signature}
    if method == "GET":
        response = target.client.get(path, headers=headers)
    else:
        response = target.client.post(path, data=dict(form), headers=headers)
    return TwiML(response.status_code, response.headers.get("Content-Type", ""), response.get_data(as_text=True))


# --- properties ------------------------------------------------------------------------------------


@given(request=signed_requests(), data=st.data())
def test_any_signed_request_gets_twiml_that_keeps_the_call_going(
    targets: dict[str, Target], twiml_schema: xmlschema.XMLSchema, request: Request, data: st.DataObject
) -> None:
    target = targets[request.target]
    state = data.draw(state_queries(target.names()), label="state")
    answer = send(target, request.route, request.method, request.values, state)
    if request.method == "GET" and request.route != FALLBACK:
        assert answer.status == 405, answer.body  # POST only: a GET would carry the caller's data in its URL
        return
    assert answer.status == 200, answer.body
    check_twiml(twiml_schema, answer, speech=target.listens_for_speech(request.values))
    query = parse_qs(urlencode(state), keep_blank_values=True)
    check_call_goes_on(target, answer, request.route, request.values, query)
    event(f"{request.target} {request.route}: {outcome(answer)}")


@settings(max_examples=max(100, settings.default.max_examples // 3))  # the refusal is one code path
@given(
    request=signed_requests(),
    data=st.data(),
    # Header values: Latin-1 without control characters (a newline cannot be sent in a header at all).
    signature=st.one_of(st.just(""), st.text(st.characters(max_codepoint=255, exclude_categories=["Cc"]), max_size=40)),
)
def test_unsigned_or_badly_signed_requests_get_403(
    targets: dict[str, Target], request: Request, data: st.DataObject, signature: str
) -> None:
    target = targets[request.target]
    state = data.draw(state_queries(target.names()), label="state")
    answer = send(target, request.route, request.method, request.values, state, signature=signature)
    if request.route == FALLBACK:
        assert answer.status == 200 and "1 1 2" in answer.spoken(), answer.body  # public content: answered anyway
    elif request.method == "GET":
        assert answer.status == 405, answer.body
    else:
        assert answer.status == 403, answer.body


@given(
    suffix=st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    method=st.sampled_from(["GET", "POST"]),
    values=st.dictionaries(names, text, max_size=3),
)
@example(suffix="whisper", method="POST", values={}).via("the volunteer's whisper")
@example(suffix="status", method="POST", values={}).via("the call status callback")
@example(suffix="status", method="GET", values={}).via("the call status callback, by GET")
def test_any_other_path_is_403_or_404_never_a_5xx(
    targets: dict[str, Target], twiml_schema: xmlschema.XMLSchema, suffix: str, method: str, values: dict[str, str]
) -> None:
    path = "/voice/" + quote(suffix, safe="")
    answer = send(targets["shipped"], path, method, values, [])
    route = urlsplit(path).path
    if route in ROUTES and (method == "POST" or route == FALLBACK):
        assert answer.status == 200
        check_twiml(twiml_schema, answer, speech=targets["shipped"].listens_for_speech(values))
    elif route == WHISPER and method == "POST":  # a volunteer's whisper: TwiML, never an error
        assert answer.status == 200 and answer.body.startswith("<?xml"), answer.body
    elif route == STATUS and method == "POST":  # the call status callback: 204, never the rescue
        assert answer.status == 204, answer.body
    else:
        assert answer.status in {403, 404, 405}, (path, answer.status, answer.body)


@given(journey=st.lists(st.one_of(st.none(), digits, st.sampled_from(DIAL_STATUSES)), min_size=1, max_size=12))
def test_a_whole_call_with_arbitrary_input_always_goes_on_or_ends_at_a_line(
    targets: dict[str, Target], twiml_schema: xmlschema.XMLSchema, journey: list[str | None]
) -> None:
    """Follow the TwiML as Twilio would: press arbitrary keys, stay silent, report arbitrary dial outcomes."""
    target = targets["mini"]
    answer = send(target, "/voice", "POST", dict(CALL), [])
    for step in journey:
        assert answer.status == 200, answer.body
        check_twiml(twiml_schema, answer, speech=target.listens_for_speech(CALL))
        dial = answer.read.first(Ring)
        gather = answer.read.first(Listen)
        redirect = answer.read.first(Redirect)
        if dial is not None and dial.action:
            url, values = dial.action, {**CALL, "DialCallStatus": step or "no-answer"}
        elif gather is not None and step:
            url, values = gather.action, {**CALL, "Digits": step}
        elif redirect is not None:
            url, values = redirect.url, dict(CALL)
        else:
            # The call ended: only ever after the number was said or the transfer connected.
            assert answer.verbs()[-1] == "Hangup", answer.body
            return
        parts = urlsplit(url)
        state = [(k, v[0]) for k, v in parse_qs(parts.query).items()]
        route = parts.path
        answer = send(target, route, "POST", values, state)
        check_call_goes_on(target, answer, route, values, parse_qs(parts.query))
