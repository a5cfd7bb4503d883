"""The caller checker: every caller's paths, walked through the real engine from the call's first second."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.app import create_app
from ivr.checker import check
from ivr.checker.budgets import BUDGET_NAMES, EVERYONE, Checker, FixedEngine, setups
from ivr.checker.paths import NEVER, UNCHOSEN, EveryBehaviour, Goal, LineAnd112, Script
from ivr.cli import main
from ivr.engine import Dial, Engine, Gather, Hangup, Now, Say, Turn
from ivr.errors import ConfigError, ConfigErrors
from ivr.loader import load_catalog
from ivr.loading.flow_file import parse_flow
from ivr.loading.helplines_file import parse_helplines
from ivr.loading.settings_file import parse_settings
from ivr.model import Catalog, LanguageNode, MessageNode, Speech, frozen_map, spoken_key
from ivr.settings import Settings
from ivr.state import UntrustedState
from ivr.timing import SpeechClock, says_number, says_word
from ivr.understanding import Recognised
from support import DATA, SHIPPED_CONFIG, SHIPPED_FLOWS, config_copy, with_speech_on, with_transfer_targets

PREVIOUS_FLOW = DATA / "previous_flow"  # the shipped flow as it was before the checker (commit f92db77)
ROW = re.compile(r"^    (?P<who>[a-z]{2}(?:, no language chosen)?): (?P<inputs>.*?) → (?P<seconds>[0-9.]+) s", re.M)


def validate(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def table(output: str) -> dict[str, dict[str, float]]:
    """``ivr validate``'s table: budget -> who -> seconds."""
    found: dict[str, dict[str, float]] = {}
    budget = ""
    for line in output.splitlines():
        heading = re.match(r"^  ([a-z_]+) \(", line)
        if heading:
            budget = heading.group(1)
        row = ROW.match(line)
        if row:
            found.setdefault(budget, {})[row["who"]] = float(row["seconds"])
    return found


CONFIGS = {
    "shipped": lambda name, text: text,
    "speech on": with_speech_on,
    "transfer targets": with_transfer_targets,
    "both, and a French number": lambda name, text: with_transfer_targets(name, with_speech_on(name, text)).replace(
        '{"+3225550100": {default_language: nl}}',
        '{"+3225550100": {default_language: nl}, "+3225550101": {default_language: fr}}',
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("config", list(CONFIGS))
def test_ivr_validate_prints_the_worst_path_per_language_and_budget_all_within(config: str, tmp_path: Path) -> None:
    folder = config_copy(tmp_path, CONFIGS[config])
    result = validate("--config", str(folder), "--flows", str(SHIPPED_FLOWS), "--audio-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    figures = table(result.output)
    catalog = load_catalog(folder, SHIPPED_FLOWS)
    limits = catalog.settings.budgets
    offered = catalog.settings.offered
    assert set(figures) == set(BUDGET_NAMES)
    assert set(figures["any_behaviour"]) == {*offered, *(f"{lang}, no language chosen" for lang in offered)}
    for budget, rows in figures.items():
        assert set(offered) <= set(rows), budget
        assert all(seconds <= getattr(limits, budget) for seconds in rows.values()), (budget, rows)
    # The table's rows carry the inputs of the path, e.g. "en: 4, 0 → 7.6 s".
    assert re.search(r"^    en: 4, 0 → [0-9.]+ s", result.output, re.M)
    # Each run also walks the calls with a longest announcement on (the checker uses its cap).
    assert any(setup.now.announcement for setup in setups(catalog))


def test_the_previous_flow_is_refused_naming_the_german_and_english_wrong_key_paths(tmp_path: Path) -> None:
    """The flow as it was at f92db77 still parses (new fields have defaults) and is refused by the checker."""
    result = validate("--flows", str(PREVIOUS_FLOW), "--audio-dir", str(tmp_path))
    assert result.exit_code == 1
    out = result.output
    for lang, seconds in (("Deutsch (de)", 67.4), ("English (en)", 77.8)):
        assert f"any_behaviour: callers ({lang}, who chose no language) who press 5, 5, silence hear a line they" in out
        assert f"only after {seconds} s (budget 60 s)" in out
    # A wrong language has no way back: the caller's own key then chooses an option of the wrong menu.
    assert "wrong_language: callers (English (en)) who press 1, 4, silence" in out and "own language never" in out
    assert "unknown" not in out and "expected" not in out  # nothing refused by the schema


def previous() -> Catalog:
    """The previous flow, loaded without the checker (which refuses it)."""
    return unchecked(SHIPPED_CONFIG, PREVIOUS_FLOW)


def unchecked(config: Path, flows: Path) -> Catalog:
    errors: list[ConfigError] = []
    call_settings, marks = parse_settings(config / "settings.yaml", errors)
    assert call_settings is not None, errors
    helplines = parse_helplines(config / "helplines.yaml", errors, call_settings.languages, marks, call_settings.called_numbers)
    assert helplines is not None, errors
    parsed = [parse_flow(path, errors, call_settings, helplines)[0] for path in sorted(flows.glob("*.yaml"))]
    assert not errors, [e.message for e in errors]
    return Catalog(call_settings, frozen_map(helplines), frozen_map({flow.name: flow for flow in parsed if flow is not None}))


def one_path(catalog: Catalog, steps: tuple[tuple[str, str], ...], goal: Goal) -> float:
    checker = Checker(catalog)
    setup = next(setups(catalog))
    engine = FixedEngine(catalog, setup.now)
    paths = checker.walk(setup, engine, goal, Script(steps, catalog)).worst(engine.start(""))
    return max(path.seconds for path in paths.values())


def test_the_checker_finds_each_timing_path_of_the_previous_flow() -> None:
    catalog = previous()
    three_wrong = (("end", "7"),) * 3
    two_wrong = (("end", "5"),) * 2
    # Three wrong keys at the welcome: German at 61 s, English at 72 s; two wrong keys then silence: 67 s and 78 s.
    assert one_path(catalog, three_wrong, LineAnd112(catalog, unchosen="de")) == pytest.approx(61.3, abs=0.2)
    assert one_path(catalog, three_wrong, LineAnd112(catalog, unchosen="en")) == pytest.approx(71.7, abs=0.2)
    assert one_path(catalog, two_wrong, LineAnd112(catalog, unchosen="de")) == pytest.approx(67.4, abs=0.2)
    assert one_path(catalog, two_wrong, LineAnd112(catalog, unchosen="en")) == pytest.approx(77.8, abs=0.2)
    # The silence budget counted from the call: a language key, then nothing.
    for lang, key, seconds in (("nl", "1", 53.0), ("fr", "2", 58.1), ("en", "4", 57.6), ("de", "3", 31.9)):
        assert one_path(catalog, ((f"after {lang}", key),), LineAnd112(catalog, lang)) == pytest.approx(seconds, abs=0.2)
    # An English caller who pressed 1 by reflex: their own key starts the Dutch grounding exercise.
    assert one_path(catalog, (("after nl", "1"), ("start", "4")), LineAnd112(catalog, "en")) == NEVER
    findings = check(catalog)
    assert {(w.budget, w.lang) for w in findings.over} >= {
        ("any_behaviour", UNCHOSEN + "de"),
        ("any_behaviour", UNCHOSEN + "en"),
        ("silent_after_language", "nl"),
        ("silent_after_language", "fr"),
        ("silent_after_language", "en"),
        ("wrong_language", "en"),
        ("time_to_human", "de"),
    }


def test_the_shipped_flow_is_within_budget_where_the_previous_one_was_not() -> None:
    findings = check(load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS))
    assert findings.over == [] and findings.unreached == ()
    worst = findings.worst
    assert worst[("any_behaviour", UNCHOSEN + "en")].seconds <= 60
    assert worst[("silent_after_language", "en")].seconds <= 35
    assert worst[("wrong_language", "en")].path.inputs == ("1", "4")


# --- the budgets: tightened, never loosened ---------------------------------------------------------


def test_a_config_may_tighten_a_budget_and_the_checker_holds_calls_to_it(tmp_path: Path) -> None:
    folder = config_copy(tmp_path, lambda name, text: text.replace("any_behaviour: 60", "any_behaviour: 30"))
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(folder, SHIPPED_FLOWS)
    messages = [e.message for e in caught.value.errors]
    assert messages and all("any_behaviour" in m and "(budget 30 s" in m for m in messages)


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (("any_behaviour: 60", "any_behaviour: 61"), "budgets.any_behaviour"),
        (("time_to_human: 12", "time_to_human: 15"), "budgets.time_to_human"),
        (("silent_after_language: 35", "silent_after_language: 60"), "budgets.silent_after_language"),
        (("wrong_language: 25", "wrong_language: 30"), "budgets.wrong_language"),
        (("announcement: 15", "announcement: 20"), "budgets.announcement"),
        (("any_behaviour: 60", "silence: 60"), "budgets.silence"),
    ],
)
def test_a_looser_budget_is_refused_where_it_is_written(edit: tuple[str, str], path: str, tmp_path: Path) -> None:
    folder = config_copy(tmp_path, lambda name, text: text.replace(*edit))
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(folder, SHIPPED_FLOWS)
    (error,) = caught.value.errors
    assert error.path == path and error.mark.file.endswith("settings.yaml")
    assert "never loosen" in error.message or "now called 'any_behaviour'" in error.message


# --- mutations of the shipped flow that the checker refuses ------------------------------------------


def flow_copy(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (SHIPPED_FLOWS / "helpline.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    (flows / "helpline.yaml").write_text(text, encoding="utf-8")
    return flows


def test_without_the_way_back_the_wrong_language_caller_is_refused(tmp_path: Path) -> None:
    flows = flow_copy(tmp_path, ("language_keys_everywhere: true", "language_keys_everywhere: false"))
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(SHIPPED_CONFIG, flows)
    wrong = [e for e in caught.value.errors if e.message.startswith("wrong_language:")]
    assert len(wrong) == 4  # every true language
    assert all("own language never" in e.message for e in wrong)


def test_options_on_the_language_keys_are_refused_where_they_are_written(tmp_path: Path) -> None:
    flows = flow_copy(
        tmp_path,
        ('options: &menu_keys {"5": kinds_of_help', 'options: &menu_keys {"1": kinds_of_help'),
        ('      "5": {nl: [soorten hulp', '      "1": {nl: [soorten hulp'),
    )
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(SHIPPED_CONFIG, flows)
    paths = {e.path for e in caught.value.errors}
    assert {'nodes.first_menu.options."1"', 'nodes.main.options."1"'} <= paths
    assert all("chooses Nederlands in every menu" in e.message for e in caught.value.errors)


def test_a_transfer_that_does_not_say_nobody_could_be_reached_is_refused(tmp_path: Path) -> None:
    flows = flow_copy(tmp_path, ("    unreachable:\n", "    unreachable_old:\n"))
    text = (flows / "helpline.yaml").read_text(encoding="utf-8")
    text = re.sub(r"    unreachable_old:\n(      [a-z]{2}: .*\n)+", "", text)
    (flows / "helpline.yaml").write_text(text, encoding="utf-8")
    load_catalog(SHIPPED_CONFIG, flows)  # no transfer target: nothing to tell
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config_copy(tmp_path, with_transfer_targets), flows)
    messages = {e.message.split(" (")[0] for e in caught.value.errors}
    assert messages == {
        f"after every transfer target failed, {lang} callers are not told that nobody could be reached"
        for lang in "nl fr de en".split()
    }


@pytest.mark.slow
def test_after_the_last_failed_target_nobody_reached_and_the_number_follow_within_15_s(tmp_path: Path) -> None:
    catalog = load_catalog(config_copy(tmp_path, with_transfer_targets), SHIPPED_FLOWS)
    _, unreached = Checker(catalog).run()
    assert unreached and all(u.says_so and u.seconds <= 15 for u in unreached)
    assert {u.lang for u in unreached} == {"nl", "fr", "de", "en"}


def test_the_service_refuses_to_start_over_budget_but_never_over_audio(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="wrong_language"):
        create_app(replace(settings, flows_dir=PREVIOUS_FLOW))
    create_app(settings)  # the shipped flow starts; built audio plays no part in the checks at start-up


# --- the differential test: the checker against brute force through the engine ----------------------


def brute_force(
    catalog: Catalog, engine: Engine, speech_clock: SpeechClock, unchosen: str, max_inputs: int, speech: bool
) -> dict[str, float]:
    """Every path of up to ``max_inputs`` inputs, followed one by one through the engine with no memory of other
    paths: per context, the latest moment the caller has heard a line they understand and 112."""
    settings_ = catalog.settings
    numbers = {line.id: line.spoken_number for line in catalog.helplines.values()}
    wanted = {
        lang: {(lang, settings_.languages[lang].helpline), *((lang, n) for n in settings_.welcome_names)}
        for lang in settings_.offered
    }
    worst: dict[str, float] = {}

    def chosen(turn: Turn) -> str | None:
        node = catalog.flows[turn.state.flow].nodes.get(turn.node) if turn.state else None
        if turn.state is None or isinstance(node, LanguageNode) or getattr(node, "helpline", "") == "every":
            return None
        return turn.state.lang

    def record(turn: Turn, seconds: float) -> None:
        lang = chosen(turn)
        context = UNCHOSEN + unchosen if lang is None else lang
        worst[context] = max(worst.get(context, -1.0), seconds)

    def met(turn: Turn, heard: set[tuple[str, str]]) -> bool:
        lang = chosen(turn)
        return wanted[unchosen if lang is None else lang] <= heard

    def hear(heard: set[tuple[str, str]], part: Speech) -> set[tuple[str, str]]:
        return heard | {(part.lang, i) for i, n in numbers.items() if says_number(part.text, n)}

    def keys_at(gather: Gather, point: int) -> Iterator[tuple[str | None, Recognised | None]]:
        flow = catalog.flows[gather.state.flow]
        node = flow.nodes[gather.state.node]
        named = {*getattr(node, "options", {}), flow.keys.repeat, flow.keys.main_menu}
        end = point == len(gather.parts)
        for key in "1234567890*#":
            if end or (isinstance(node, LanguageNode) and (point == 0 or key in node.choices)):
                yield key, None
            elif point == 0 and key not in named:
                yield key, None
            elif point and key in named:
                part = gather.parts[point - 1]
                text = part.text if isinstance(part, Speech) and part.lang == gather.state.lang else ""
                for n in numbers.values():
                    text = text.replace(n, " ")
                if says_word(text, spoken_key(key, gather.state.lang)):
                    yield key, None
        if speech and point in (0, len(gather.parts)):
            if flow.crisis is not None:
                yield None, Recognised(flow.crisis.words[gather.state.lang][0], 0.1)
            yield None, Recognised("zzz", 0.9)

    def walk(turn: Turn, t: float, heard: set[tuple[str, str]], inputs: int) -> None:
        node = catalog.flows[turn.state.flow].nodes.get(turn.node) if turn.state else None
        if isinstance(node, MessageNode) and turn.outcome == "option" and not met(turn, heard):
            record(turn, math.inf)
            return
        for action in turn.actions:
            if isinstance(action, Hangup):
                record(turn, math.inf)
                return
            if isinstance(action, Dial):
                if action.state is None:
                    continue
                record(turn, t)  # connected: the path ends there
                claim = UntrustedState(action.state.flow, action.state.node, action.state.lang, 0, 0, action.state.target)
                walk(engine.on_dial(claim, "busy", ""), t, heard, inputs)
                return
            if isinstance(action, Say):
                for part in action.parts:
                    t += speech_clock.seconds(part)
                    heard = hear(heard, part) if isinstance(part, Speech) else heard
                    if met(turn, heard):
                        record(turn, t)
                        return
                continue
            state = action.state
            claim = UntrustedState(state.flow, state.node, state.lang, state.no_input, state.wrong_key, state.target)
            for point in range(len(action.parts) + 1):
                if point:
                    part = action.parts[point - 1]
                    t += speech_clock.seconds(part)
                    heard = hear(heard, part) if isinstance(part, Speech) else heard
                    if met(turn, heard):
                        record(turn, t)
                        return
                if inputs < max_inputs:
                    seen: set[Turn] = set()
                    for digits, words in keys_at(action, point):
                        following = engine.on_input(claim, digits, "", words)
                        if following not in seen:  # keys with one meaning here lead to one turn: follow it once
                            seen.add(following)
                            walk(following, t, heard, inputs + 1)
            walk(engine.on_input(claim, None, ""), t + action.timeout, heard, inputs)
            return
        record(turn, math.inf)

    walk(engine.start(""), 0.0, set(), 0)
    return worst


def checker_worst(catalog: Catalog, engine: Engine, unchosen: str, max_inputs: int, speech: bool) -> dict[str, float]:
    checker = Checker(catalog)
    setup = next(setups(catalog))
    walk = checker.walk(
        setup, engine, LineAnd112(catalog, unchosen=unchosen), EveryBehaviour(catalog, speech, max_inputs), EVERYONE
    )
    return {context: path.seconds for context, path in walk.worst(engine.start("")).items()}


def assert_checker_matches_brute_force(catalog: Catalog, max_inputs: int, speech: bool, now: Now) -> None:
    engine = FixedEngine(catalog, now)
    speech_clock = SpeechClock({code: ls.words_per_second for code, ls in catalog.settings.languages.items()})
    for lang in catalog.settings.offered:
        brute = brute_force(catalog, engine, speech_clock, lang, max_inputs, speech)
        exact = checker_worst(catalog, engine, lang, max_inputs, speech)
        wider = checker_worst(catalog, engine, lang, max_inputs + 2, speech)
        assert set(brute) == set(exact), (lang, brute, exact)
        for context, seconds in brute.items():
            assert exact[context] == pytest.approx(seconds), (lang, context)  # the same paths, remembered
            assert wider[context] >= seconds - 1e-9, (lang, context)  # more inputs: never better


def test_the_checker_agrees_with_brute_force_on_the_shipped_flow() -> None:
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    assert_checker_matches_brute_force(catalog, 3, speech=False, now=Now(()))


@pytest.mark.slow
def test_the_checker_agrees_with_brute_force_on_the_previous_flow_with_speech() -> None:
    catalog = previous()
    assert_checker_matches_brute_force(catalog, 3, speech=True, now=Now(()))


SMALL_FLOW = """\
start: welcome
main_menu: main
talk_now: line
keys: {{talk_now: "0", repeat: "9", main_menu: "*"}}
language_keys_everywhere: {everywhere}
defaults:
  timeout: {timeout}
  after_retries: line
  no_input: {{retries: {no_input}, reprompt: {{nl: "{filler}", fr: "{filler}"}}}}
  wrong_key: {{retries: {wrong_key}, reprompt: {{nl: "{filler} toets.", fr: "{filler} touche."}}}}
rescue: {{nl: "Bel {{number:tele_onthaal}}.", fr: "Appelez le {{number:tele_accueil}}."}}
nodes:
  welcome:
    kind: language
    prompt: {{nl: "{welcome} druk 1.", fr: "{welcome} tapez 2."}}
    choices: {{"1": nl, "2": fr}}
    next: main
    after_retries: every
    no_input: {{retries: {welcome_silence}, reprompt: {{nl: "Nog eens.", fr: "Encore."}}}}
    wrong_key: {{retries: {welcome_wrong}, reprompt: {{nl: "Nee.", fr: "Non."}}}}
  main:
    kind: menu
    prompt:
      - {{nl: "Praten: druk 0.", fr: "Parler: tapez 0."}}
      {number_part}
      - {{nl: "{options_nl}", fr: "{options_fr}"}}
    options: {options}
  info:
    kind: message
    prompt: [{{nl: "{filler}", fr: "{filler}"}}, {{pause: {pause}}}]
    after: {{nl: "Druk 9 of sterretje.", fr: "Tapez 9 ou étoile."}}
    next: main
  line:
    kind: transfer
    helpline: language
    connecting: {{nl: "Even geduld.", fr: "Un instant."}}
    unreachable: {{nl: "Niemand bereikt.", fr: "Personne."}}
    call_yourself:
      nl: "{filler} Bel {{number:line}}. Nood {{number:emergency}}."
      fr: "Appelez le {{number:line}}. Urgence {{number:emergency}}."
  every:
    kind: transfer
    helpline: every
    call_yourself:
      nl: "Bel {{number:line}}. Nood {{number:emergency}}."
      fr: "{filler} Appelez le {{number:line}}. Urgence {{number:emergency}}."
"""


@st.composite
def small_flows(draw: st.DrawFn) -> str:
    everywhere = draw(st.booleans())
    first, second = ("3", "4") if everywhere else ("1", "2")
    says_number = draw(st.booleans())
    words = draw(st.integers(1, 12))
    return SMALL_FLOW.format(
        everywhere=str(everywhere).lower(),
        timeout=draw(st.integers(1, 8)),
        no_input=draw(st.integers(0, 2)),
        wrong_key=draw(st.integers(0, 2)),
        welcome_silence=draw(st.integers(0, 1)),
        welcome_wrong=draw(st.integers(0, 2)),
        filler=" ".join(["woord"] * words),
        welcome=" ".join(["taal"] * draw(st.integers(1, 6))),
        number_part='- {nl: "Bel {number:line}. Nood {number:emergency}.", fr: "Le {number:line}. Urgence {number:emergency}."}'
        if says_number
        else "",
        options_nl=f"Info: druk {first}. Einde: druk {second}.",
        options_fr=f"Info: tapez {first}. Fin: tapez {second}.",
        options=f'{{"{first}": info, "{second}": line}}',
        pause=draw(st.integers(1, 5)),
    )


@pytest.mark.slow
@settings(max_examples=12)
@given(flow=small_flows(), speech=st.booleans(), targets_open=st.booleans())
def test_the_checker_agrees_with_brute_force_on_small_flows(
    flow: str, speech: bool, targets_open: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    flows = tmp_path_factory.mktemp("flows")
    (flows / "mini.yaml").write_text(flow, encoding="utf-8")
    catalog = unchecked(DATA / "config", flows)
    now = Now(((0, 1) if targets_open else (),))  # tele_onthaal's two targets, open or closed
    assert_checker_matches_brute_force(catalog, 3, speech=speech, now=now)


def test_the_walk_starts_from_the_calls_first_second() -> None:
    """Worked out by hand: the English caller hears the whole welcome, presses 4, then the first sentence."""
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    speech_clock = SpeechClock({code: ls.words_per_second for code, ls in catalog.settings.languages.items()})
    flow = catalog.flows["helpline"]
    welcome = flow.nodes[flow.start]
    first = flow.nodes["first_menu"]
    assert isinstance(welcome, LanguageNode)
    heard = sum(speech_clock.total(welcome.prompt.parts(lang)) for lang in catalog.settings.offered)
    offer = first.prompt.parts("en")[0]  # type: ignore[union-attr]
    worst = check(catalog).worst[("time_to_human", "en")]
    assert worst.seconds == pytest.approx(heard + speech_clock.seconds(offer))
    assert worst.path.inputs == ("4",)
