"""The shipped flow, path by path, through the signed webhook as Twilio would call it.

A breadth-first walk from ``POST /voice``: every key (0-9, *, #) at every <Gather>, the
silence <Redirect> after it, and every DialCallStatus after a <Dial>, until no new state
is found. Counters are part of the state, so wrong keys and silences are followed up to
each menu's retry limit. Every answer must be valid TwiML and lead somewhere: another
<Gather>, a <Dial> with an action, or a hang-up that comes after the caller's line was
said or connected.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xmlschema

from ivr.checker import check, format_findings
from ivr.loader import load_catalog
from ivr.model import Catalog, LanguageNode, MenuNode, MessageNode, Prompt, Speech, TransferNode
from ivr.settings import Settings
from ivr.simulate import Listen, Ring, query_of
from support import (
    PUBLIC,
    SHIPPED_CONFIG,
    SHIPPED_FLOWS,
    TOKEN,
    TwilioClient,
    TwiML,
    app_for,
    assert_valid_twiml,
    config_copy,
    digits_in,
    with_transfer_targets,
)
from support.docs_pages import section as docs_section

KEYS = tuple("0123456789*#")
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")
CONNECTED = {"completed", "answered"}
LISTENING_LINES = {"nl": "106", "fr": "107", "de": "108", "en": "026484014"}
SAY_LANGUAGES = {"nl-BE": "nl", "fr-BE": "fr", "de-DE": "de", "en-GB": "en"}
YEAR = re.compile(r"(19|20)[0-9]{2}")
SPOKEN_DIGITS = re.compile(r"[0-9]+(?:,? [0-9]+)*")  # "1 0 6", "0 2, 6 4 8", "2024"


@dataclass
class Answer:
    """One TwiML answer, the request that produced it, and what the caller heard before it."""

    url: str
    given: str | None  # the key pressed or the DialCallStatus; None for silence or the first request
    twiml: TwiML
    lang: str  # the call's language when it was answered
    parent: Answer | None = None


@dataclass
class Walk:
    answers: list[Answer] = field(default_factory=list)
    states: set[tuple[str, str, int, int, int]] = field(default_factory=set)  # (node, lang, ni, wk, t)
    gathers: set[str] = field(default_factory=set)  # every <Gather> action URL met
    dials: set[str] = field(default_factory=set)  # every <Dial> action URL met
    ended: list[Answer] = field(default_factory=list)


def _said_languages(twiml: TwiML) -> set[str]:
    return {SAY_LANGUAGES[heard.language] for heard in twiml.read.heard() if heard.verb == "say"}


def _language_after(twiml: TwiML, asked_in: str) -> str:
    """The call's language once this answer is given: in the state it passes on, else the one it was asked in."""
    for verb in (twiml.read.first(Listen), twiml.read.first(Ring)):
        if verb is not None and verb.action:
            return query_of(verb.action)["lang"]
    return asked_in


def walk_every_path(twilio: TwilioClient, valid: Callable[[TwiML], TwiML], default_language: str = "nl") -> Walk:
    walk = Walk()
    checked: set[str] = set()
    first = twilio.post("/voice")
    queue: deque[Answer] = deque([Answer("/voice", None, first, _language_after(first, default_language))])
    asked: set[tuple[str, str | None]] = {("/voice", None)}

    def ask(url: str, given: str | None, parent: Answer, *, dial: bool = False) -> None:
        if (url, given) in asked:
            return
        asked.add((url, given))
        if dial:
            twiml = twilio.follow(url, DialCallStatus=given or "")
        else:
            twiml = twilio.follow(url, given)
        queue.append(Answer(url, given, twiml, _language_after(twiml, query_of(url).get("lang", parent.lang)), parent))

    while queue:
        answer = queue.popleft()
        walk.answers.append(answer)
        if answer.twiml.body not in checked:
            valid(answer.twiml)
            checked.add(answer.twiml.body)
        verbs = answer.twiml.verbs()
        gather = answer.twiml.read.first(Listen)
        dial = answer.twiml.read.first(Ring)
        if gather is not None:
            action = gather.action
            walk.gathers.add(action)
            state = query_of(action)
            walk.states.add((state["node"], state["lang"], int(state["ni"]), int(state["wk"]), int(state["t"])))
            # Silence is never a hang-up: the verb after <Gather> takes the caller on.
            assert verbs[-1] == "Redirect" and answer.twiml.redirect() == action, answer.twiml.body
            for key in KEYS:
                ask(action, key, answer)
            ask(action, None, answer)
        elif dial is not None and dial.action:
            walk.dials.add(dial.action)
            state = query_of(dial.action)
            walk.states.add((state["node"], state["lang"], int(state["ni"]), int(state["wk"]), int(state["t"])))
            for status in DIAL_STATUSES:
                ask(dial.action, status, answer, dial=True)
        else:
            assert verbs and verbs[-1] == "Hangup", f"dead end after {answer.url} {answer.given}: {answer.twiml.body}"
            walk.ended.append(answer)
    return walk


def heard_the_line(answer: Answer) -> bool:
    """The caller heard their line's number before this hang-up, or was connected to it."""
    line = LISTENING_LINES[answer.lang]
    if line in digits_in(answer.twiml.spoken()):
        return True
    parent = answer.parent
    if parent is None:
        return False
    if parent.twiml.read.first(Ring) is not None and answer.given in CONNECTED:
        return True
    return answer.given is None and line in digits_in(parent.twiml.spoken())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory, twiml_schema: xmlschema.XMLSchema) -> Walk:
    """The shipped flow and config, walked once for the tests that only read the walk."""

    def valid(answer: TwiML) -> TwiML:  # the valid_twiml fixture's check, for a walk shared by several tests
        return assert_valid_twiml(twiml_schema, answer)

    settings = Settings(auth_token=TOKEN, public_url=PUBLIC, config_dir=SHIPPED_CONFIG, flows_dir=SHIPPED_FLOWS)
    return walk_every_path(app_for(settings, tmp_path_factory.mktemp("walk")), valid)


def test_every_path_ends_at_the_line(walked: Walk, catalog: Catalog) -> None:
    assert walked.ended
    for end in walked.ended:
        assert heard_the_line(end), f"hang-up without the line after {end.url} {end.given}: {end.twiml.body}"
    # every key and silence at every <Gather>, every status after every <Dial>: not a sample
    assert len(walked.answers) == 1 + len(walked.gathers) * (len(KEYS) + 1) + len(walked.dials) * len(DIAL_STATUSES)


def test_every_node_is_visited_in_every_language_up_to_the_retry_limits(walked: Walk, catalog: Catalog) -> None:
    flow = catalog.flows["helpline"]
    offered = catalog.settings.offered
    visited = {(node, lang) for node, lang, *_ in walked.states}
    # Before a language is chosen (the welcome, and every language's line for those who choose
    # none) the call is in the called number's default language.
    before_choice = {flow.start} | {n.id for n in flow.nodes.values() if isinstance(n, TransferNode) and n.helpline == "every"}
    expected = {(node, lang) for node in flow.nodes for lang in offered if node not in before_choice}
    expected |= {(node, "nl") for node in before_choice}
    assert visited == expected
    for node in flow.nodes.values():
        if isinstance(node, (MenuNode, LanguageNode)):
            counts = [(ni, wk) for n, _, ni, wk, _ in walked.states if n == node.id]
            assert max(ni for ni, _ in counts) == node.no_input.retries, node.id
            assert max(wk for _, wk in counts) == node.wrong_key.retries, node.id


def test_each_language_has_its_own_line(catalog: Catalog) -> None:
    numbers = {lang: re.sub(r"[^0-9]", "", catalog.line_for(lang).number) for lang in catalog.settings.offered}
    assert numbers == LISTENING_LINES
    assert {lang: catalog.line_for(lang).id for lang in catalog.settings.offered} == {
        "nl": "tele_onthaal",
        "fr": "tele_accueil",
        "de": "telefonhilfe",
        "en": "community_help_service",
    }


@pytest.mark.parametrize(("lang", "number"), LISTENING_LINES.items())
def test_each_language_is_routed_to_its_own_line(walked: Walk, lang: str, number: str) -> None:
    at_line = [
        a
        for a in walked.answers
        if a.lang == lang and a.twiml.read.first(Listen) is not None and a.twiml.state()["node"] == "listening_line"
    ]
    assert at_line
    others = set(LISTENING_LINES.values()) - {number}
    for answer in at_line:
        heard = digits_in(answer.twiml.spoken())
        assert heard.count(number) == 2, answer.twiml.spoken()  # said twice, digit by digit
        assert _said_languages(answer.twiml) == {lang}
        if lang == "en":  # English callers also hear that the Dutch and French lines listen, named by language
            said = answer.twiml.spoken()
            assert "106" in heard and "107" in heard and "Dutch-language" in said and "French-language" in said
            assert "Brussels" not in said and "Onthaal" not in said and "Accueil" not in said and "free" not in said.split(",")[0]
        else:
            assert not any(other in heard for other in others), answer.twiml.spoken()


def test_after_choosing_a_language_everything_is_said_in_it(walked: Walk) -> None:
    for answer in walked.answers:
        gather = answer.twiml.read.first(Listen)
        if gather is not None and query_of(gather.action)["node"] not in ("welcome", "every_line"):
            assert _said_languages(answer.twiml) == {answer.lang}, answer.twiml.body


@pytest.mark.slow
def test_every_dial_outcome_is_followed(settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]) -> None:
    config = config_copy(tmp_path, with_transfer_targets)
    walk = walk_every_path(app_for(settings, tmp_path, config), valid_twiml)
    catalog = load_catalog(config, SHIPPED_FLOWS)
    dialled: dict[str, set[str]] = {}
    for answer in walk.answers:
        for ring in answer.twiml.read.verbs:
            if isinstance(ring, Ring):
                dialled.setdefault(answer.lang, set()).update(ring.numbers)
    for lang in catalog.settings.offered:
        assert dialled[lang] == {target.address for target in catalog.line_for(lang).transfer_to}
    for end in walk.ended:
        assert heard_the_line(end), f"hang-up without the line after {end.url} {end.given}: {end.twiml.body}"
    # when every target fails, the caller hears the number
    failed = [a for a in walk.answers if a.given == "failed" and query_of(a.url)["t"] == "1"]
    assert failed and all(LISTENING_LINES[a.lang] in digits_in(a.twiml.spoken()) for a in failed)


@pytest.mark.slow
def test_a_language_switched_off_in_config_leaves_a_working_flow(
    settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    def only_nl_fr(name: str, text: str) -> str:
        return text.replace("offered_languages: [nl, fr, de, en]", "offered_languages: [nl, fr]")

    config = config_copy(tmp_path, only_nl_fr)
    twilio = app_for(settings, tmp_path, config)
    welcome = twilio.post("/voice")
    assert [SAY_LANGUAGES[heard.language] for heard in welcome.read.heard() if heard.verb == "say"] == ["nl", "fr"]
    assert "Deutsch" not in welcome.spoken() and "English" not in welcome.spoken()
    walk = walk_every_path(twilio, valid_twiml)
    assert {lang for _, lang, *_ in walk.states} == {"nl", "fr"}
    assert all(heard_the_line(end) for end in walk.ended)
    wrong = twilio.follow(welcome.gather_action(), "3")  # Deutsch is no choice any more: a wrong key, so every line
    assert wrong.state()["node"] == "every_line"


def test_a_silent_caller_on_a_french_number_hears_107_first_then_every_other_line(
    settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML]
) -> None:
    def french_number(name: str, text: str) -> str:
        return text.replace("called_numbers: {}", 'called_numbers: {"+3225550100": {default_language: fr}}')

    twilio = app_for(settings, tmp_path, config_copy(tmp_path, french_number))
    answer = valid_twiml(twilio.post("/voice"))  # the test client calls +3225550100
    redirects = 0
    while "107" not in digits_in(answer.spoken()):
        answer = valid_twiml(twilio.follow(answer.redirect()))
        redirects += 1
    assert redirects == 1  # the welcome once, then every language's line
    says = [(SAY_LANGUAGES[heard.language], digits_in(heard.text)) for heard in answer.read.heard() if heard.verb == "say"]
    assert says == [("fr", "107112"), ("nl", "106112"), ("de", "108112"), ("en", "026484014112")]


def _prompts(catalog: Catalog) -> list[Prompt]:
    prompts = []
    for flow in catalog.flows.values():
        prompts.append(flow.rescue)
        for node in flow.nodes.values():
            if isinstance(node, (MenuNode, LanguageNode)):
                prompts += [node.prompt, node.no_input.reprompt, node.wrong_key.reprompt]
            elif isinstance(node, MessageNode):
                prompts += [node.prompt, node.after]
            elif isinstance(node, TransferNode):
                prompts += [node.connecting, node.call_yourself, node.after]
            else:
                prompts.append(node.prompt)
    return prompts


def numbers_said(text: str) -> list[str]:
    """Runs of digits as a caller hears them, except single keys ("druk 1")."""
    return [re.sub(r"[^0-9]", "", m.group(0)) for m in SPOKEN_DIGITS.finditer(text) if len(re.sub(r"[^0-9]", "", m.group(0))) > 1]


@pytest.mark.slow
def test_every_number_said_or_dialled_comes_from_helplines_yaml(
    settings: Settings, tmp_path: Path, valid_twiml: Callable[[TwiML], TwiML], catalog: Catalog
) -> None:
    known = {re.sub(r"[^0-9]", "", line.number) for line in catalog.helplines.values()}
    assert numbers_said("Druk 1, of bel 1 0 6 of 0 2, 6 4 8, 4 0, 1 4 (2024).") == ["106", "026484014", "2024"]
    # every prompt of the flow, reached or not
    for prompt in _prompts(catalog):
        for parts in prompt.by_lang.values():
            for part in parts:
                if isinstance(part, Speech):
                    for number in numbers_said(part.text):
                        assert number in known or YEAR.fullmatch(number), (number, part.text)
    # and everything a caller can hear or be put through to, with and without transfer targets
    config = config_copy(tmp_path, with_transfer_targets)
    dialling = load_catalog(config, SHIPPED_FLOWS)
    targets = {target.address for line in dialling.helplines.values() for target in line.transfer_to}
    twilio = app_for(settings, tmp_path, config)
    answers = walk_every_path(twilio, valid_twiml).answers + walk_every_path(app_for(settings, tmp_path), valid_twiml).answers
    answers.append(Answer("/voice/fallback", None, twilio.post("/voice/fallback"), "nl"))
    for answer in answers:
        for number in numbers_said(answer.twiml.spoken()):
            assert number in known or YEAR.fullmatch(number), (number, answer.twiml.spoken())
        for ring in answer.twiml.read.verbs:
            if isinstance(ring, Ring):
                assert set(ring.numbers) <= targets, ring


def test_the_docs_show_the_menu_tree_and_link_every_language_script(catalog: Catalog) -> None:
    section = docs_section("callers-journey.md", "The shipped flow")
    flow = catalog.flows["helpline"]
    welcome, menu = flow.nodes[flow.start], flow.nodes[flow.main_menu]
    assert isinstance(welcome, LanguageNode) and isinstance(menu, MenuNode)
    tree = section.split("```text\n")[1].split("```")[0]
    # an entry is a line starting with its key; indented lines below it continue it
    entries = re.sub(r"\n {5,}", " ", tree).splitlines()
    for option, target in {**menu.options, flow.keys.talk_now: flow.talk_now}.items():
        assert any(re.match(rf"  {re.escape(option)}  .*→ {target}$", entry) for entry in entries), option
    for key, lang in welcome.choices.items():
        assert f"{key} {catalog.settings.languages[lang].name}" in tree
        assert catalog.line_for(lang).number in tree  # every_line names each language's line
    assert f"{flow.keys.repeat} again" in tree and f"{flow.keys.main_menu} menu" in tree
    assert "[docs/prompts.md](prompts.md)" in section  # every word, per language (kept current by a test)


def test_the_docs_show_the_figures_ivr_validate_prints(catalog: Catalog) -> None:
    printed = format_findings(catalog, check(catalog)).splitlines()
    section = docs_section("callers-journey.md", "The caller checker")
    for row in printed:
        assert f"\n{row}\n" in section, row
