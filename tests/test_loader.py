"""Loading flows and config: every broken file is reported with file, line and a fix."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ivr.checker import check_calls
from ivr.errors import ConfigError, ConfigErrors
from ivr.loader import load_catalog
from ivr.loading.flow_file import parse_flow
from ivr.loading.flow_marks import Exit, FlowMarks, Option
from ivr.loading.helplines_file import parse_helplines
from ivr.loading.settings_file import parse_settings
from ivr.model import Catalog, MenuNode, Speech, frozen_map
from ivr.yamlio import Mark
from support import DATA, SHIPPED_CONFIG, SHIPPED_FLOWS

BROKEN = sorted((DATA / "broken").glob("*.yaml"))


def expectation(path: Path) -> tuple[int, str]:
    match = re.match(r"# expect: (\d+): (.+)", path.read_text(encoding="utf-8").splitlines()[0])
    assert match, f"{path.name} must start with '# expect: LINE: message'"
    return int(match.group(1)), match.group(2)


def load_flow_file(path: Path, tmp_path: Path) -> ConfigErrors:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(path, flows / path.name)
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)
    return caught.value


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_flow_is_reported_with_file_line_and_fix(path: Path, tmp_path: Path) -> None:
    line, fragment = expectation(path)
    errors = load_flow_file(path, tmp_path).errors
    matching = [e for e in errors if fragment in e.message + " " + e.hint]
    assert matching, "\n".join(map(str, errors))
    error = matching[0]
    assert error.mark.file.endswith(f"flows/{path.name}")
    assert error.mark.line == line
    assert error.hint  # says what to do
    assert str(error).startswith(f"{error.mark.file}:{line}:{error.mark.column}: ")


def test_expected_broken_cases_are_all_there() -> None:
    names = {p.stem for p in BROKEN}
    assert {"missing_target", "unreachable_node", "missing_translation", "unquoted_on_key", "duplicate_key"} <= names


def test_short_number_in_transfer_to_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    shutil.copy(DATA / "broken_helplines.yaml", config / "helplines.yaml")
    line, fragment = expectation(DATA / "broken_helplines.yaml")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    (error,) = caught.value.errors
    assert fragment in error.message
    assert error.mark.file.endswith("config/helplines.yaml") and error.mark.line == line
    assert error.path == "helplines.tele_onthaal.transfer_to[0]"
    assert "13223" in error.hint and "E.164" in error.hint


def test_transfers_need_a_number_of_ours_for_caller_id(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    settings = (config / "settings.yaml").read_text(encoding="utf-8")
    settings = re.sub(r'called_numbers:\n  "\+3225550101": \{default_language: fr, speech: true\}.*\n', "", settings)
    (config / "settings.yaml").write_text(settings, encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    (error,) = caught.value.errors
    assert error.path == "called_numbers" and error.mark.file.endswith("config/settings.yaml")
    assert "tele_onthaal in helplines.yaml transfer calls" in error.message and "caller's own number" in error.message
    assert "Twilio number" in error.hint


def test_all_errors_are_collected_in_one_report(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    text = text.replace('"3": info, "4": bye', '"3": infos, on: bye').replace("    next: main\n  line:", "    nxt: main\n  line:")
    (flows / "mini.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)
    report = caught.value.report()
    assert "unknown key 'nxt'" in report and "reads it unquoted as a boolean" in report
    assert report.endswith("the service will not start until they are fixed.")


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8").replace("  timeout: 5", "  timout: 5")
    (flows / "mini.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)
    (error,) = caught.value.errors
    assert error.path == "defaults.timout" and error.hint == "did you mean 'timeout'?"


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "bad.yaml").write_text("start: welcome\nnodes: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flows)
    (error,) = caught.value.errors
    assert "YAML syntax error" in error.message and error.mark.line == 3


def test_the_loaded_model_is_frozen_and_typed() -> None:
    catalog = load_catalog(DATA / "config", DATA / "flows")
    flow = catalog.flows["mini"]
    main = flow.nodes["main"]
    assert isinstance(main, MenuNode)
    assert dict(main.options) == {"3": "info", "4": "bye"}
    with pytest.raises(TypeError):
        main.options["5"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        main.timeout = 1  # type: ignore[misc]
    (_, speech) = main.prompt.parts("fr")
    assert isinstance(speech, Speech) and speech.lang == "fr"


def test_placeholders_are_expanded_from_helplines() -> None:
    catalog = load_catalog(DATA / "config", DATA / "flows")
    line = catalog.flows["mini"].nodes["line"]
    texts = {lang: " ".join(p.text for p in parts if isinstance(p, Speech)) for lang, parts in line.call_yourself.by_lang.items()}  # type: ignore[union-attr]
    assert texts == {"nl": "Bel Tele-Onthaal: 1 0 6.", "fr": "Appelez Télé-Accueil: 1 0 7."}


def test_a_language_switched_off_in_config_does_not_break_the_flow(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    settings = config / "settings.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("offered_languages: [nl, fr, de, en]", "offered_languages: [nl, fr]"),
        encoding="utf-8",
    )
    catalog = load_catalog(config, SHIPPED_FLOWS)
    assert catalog.settings.offered == ("nl", "fr")
    welcome = catalog.flows[catalog.settings.default_flow].nodes["welcome"]
    assert set(welcome.choices.values()) == {"nl", "fr"}  # type: ignore[union-attr]


def test_shipped_config_and_flows_load() -> None:
    catalog = load_catalog(SHIPPED_CONFIG, SHIPPED_FLOWS)
    assert catalog.line_for("nl").number == "106"
    assert catalog.line_for("fr").number == "107"
    assert catalog.line_for("de").number == "108"
    assert all(line.source for line in catalog.helplines.values())


def _mini_flow_saying(tmp_path: Path, nl: str, fr: str) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir(parents=True)
    text = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    old = '{nl: "Adem uit.", fr: "Expirez."}'
    assert old in text
    (flows / "mini.yaml").write_text(text.replace(old, f'{{nl: "{nl}", fr: "{fr}"}}'), encoding="utf-8")
    return flows


@pytest.mark.parametrize(
    "number", ["1-0-5", "1, 0, 5", "1,0,5", "１０５", "1 0  5", "10-5", "één nul vijf", "un zéro sept", "١٠٥", "1\u200b0\u200b5"]
)
@pytest.mark.parametrize("lang", ["nl", "fr"])
def test_a_number_typed_by_hand_is_refused_in_every_language(tmp_path: Path, number: str, lang: str) -> None:
    said = {"nl": "Adem uit.", "fr": "Expirez."} | {lang: f"Bel {number}."}
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", _mini_flow_saying(tmp_path, said["nl"], said["fr"]))
    (error,) = caught.value.errors
    text = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    line = text[: text.index('{nl: "Adem uit.", fr: "Expirez."}')].count("\n") + 1
    assert (error.mark.line, error.path) == (line, f"nodes.info.prompt[2].{lang}")
    assert error.message.startswith(f"the prompt says the number {number!r} literally") and "{number:" in error.hint


def test_keys_years_percentages_and_words_still_load(tmp_path: Path) -> None:
    flows = _mini_flow_saying(
        tmp_path, "In 2024 zei 13% van de mensen: één op één helpt. Druk op 1. Een korte oefening: druk op 2.", "Un, deux."
    )
    with pytest.raises(ConfigErrors) as caught:  # only the French counting is refused
        load_catalog(DATA / "config", flows)
    (error,) = caught.value.errors
    assert error.path == "nodes.info.prompt[2].fr" and "'Un, deux'" in error.message
    flows = _mini_flow_saying(tmp_path / "again", "In 2024 zei 13% van de mensen: één op één helpt.", "Un, puis deux.")
    assert load_catalog(DATA / "config", flows).flows["mini"]


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            'transfer_to: ["+3290000001", "+3290000002"]',
            'transfer_to: ["+3290000001", "+3290000001"]',
            "helplines.tele_onthaal.transfer_to[1]",
            "+3290000001 is listed twice",
        ),
        (
            'transfer_to: ["+3290000001", "+3290000002"]',
            'transfer_to: ["+3290000001", "+3225550101"]',
            "helplines.tele_onthaal.transfer_to[1]",
            "+3225550101 is one of our own numbers (called_numbers in settings.yaml)",
        ),
        (
            '    number: "107"\n',
            '    number: "107"\n    transfer_to: ["+3290000002"]\n',
            "helplines.tele_accueil.transfer_to[0]",
            "+3290000002 is already a transfer target of tele_onthaal",
        ),
    ],
    ids=["twice", "our own number", "another line's"],
)
def test_a_transfer_target_is_a_line_number_given_once(tmp_path: Path, old: str, new: str, where: str, message: str) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    text = (config / "helplines.yaml").read_text(encoding="utf-8")
    assert old in text
    (config / "helplines.yaml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    (error,) = caught.value.errors
    assert error.path == where and error.mark.file.endswith("config/helplines.yaml")
    assert error.message.startswith(message) and error.hint
    line = next(i for i, text in enumerate(new.splitlines()) if "transfer_to" in text)
    assert error.mark.line == text.replace(old, new)[: text.index(old)].count("\n") + 1 + line


INTEGERS = ["1_5", "١٥", "１５", "1e1", "+15", "0x0f", "15.0", "1" * 5000]
NUMBERS = ["1_0", "١٠", "１０", "٢.٣", "1e1", "+10", "10.", ".5", "Infinity", "NaN", "1" * 5000]


@pytest.mark.parametrize("raw", INTEGERS)
@pytest.mark.parametrize(
    ("file", "old", "where"), [("settings", "ring_timeout: 15", "ring_timeout"), ("flow", "timeout: 5", "defaults.timeout")]
)
def test_a_whole_number_is_plain_ascii_digits_in_range(tmp_path: Path, raw: str, file: str, old: str, where: str) -> None:
    config, flows = tmp_path / "config", tmp_path / "flows"
    shutil.copytree(DATA / "config", config)
    shutil.copytree(DATA / "flows", flows)
    path = config / "settings.yaml" if file == "settings" else flows / "mini.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, old.split(":")[0] + f': "{raw}"', 1), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, flows)
    (error,) = caught.value.errors
    assert error.path == where and error.message.startswith("expected a whole number from") and "0-9" in error.hint


@pytest.mark.parametrize("raw", NUMBERS)
@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("words_per_second: 2.3", "words_per_second: {}", "languages.nl.words_per_second"),
        ("ring_timeout: 15", "ring_timeout: 15\nbudgets: {{any_behaviour: {}}}", "budgets.any_behaviour"),
    ],
)
def test_a_number_is_plain_ascii_digits_in_range(tmp_path: Path, raw: str, old: str, new: str, where: str) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    text = (config / "settings.yaml").read_text(encoding="utf-8")
    assert old in text
    (config / "settings.yaml").write_text(text.replace(old, new.format(f'"{raw}"'), 1), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    (error,) = [e for e in caught.value.errors if e.path == where]  # (a language without its speed is not offered)
    assert error.message.startswith("expected a number from") and "0-9" in error.hint


def test_plain_numbers_still_load(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    text = (config / "settings.yaml").read_text(encoding="utf-8")
    text = text.replace("ring_timeout: 15", "ring_timeout: 030\nbudgets: {time_to_human: 11.5, talk_now: 12, any_behaviour: 60}")
    (config / "settings.yaml").write_text(text, encoding="utf-8")
    settings = load_catalog(config, DATA / "flows").settings
    assert (settings.ring_timeout, settings.budgets.time_to_human, settings.budgets.talk_now) == (30, 11.5, 12.0)


def shipped_config_with(tmp_path: Path, old: str, new: str) -> tuple[Path, list[str]]:
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    text = (config / "settings.yaml").read_text(encoding="utf-8")
    assert old in text
    (config / "settings.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return config, text.replace(old, new, 1).splitlines()


def test_a_language_naming_an_unknown_helpline_is_pointed_at_where_it_names_it(tmp_path: Path) -> None:
    config, lines = shipped_config_with(tmp_path, "helpline: telefonhilfe", "helpline: telefonhilf")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, SHIPPED_FLOWS)
    (error,) = [e for e in caught.value.errors if "unknown helpline" in e.message]
    line = next(n for n, text in enumerate(lines, 1) if "helpline: telefonhilf" in text)
    assert (error.path, error.mark.line, error.mark.column) == (
        "languages.de.helpline",
        line,
        lines[line - 1].index("telefonhilf") + 1,
    )
    assert "telefonhilfe" in error.hint


def test_a_mark_asked_for_a_language_or_number_never_read_is_an_error_not_the_first_line() -> None:
    errors: list[ConfigError] = []
    settings, marks = parse_settings(SHIPPED_CONFIG / "settings.yaml", errors)
    assert settings is not None and not errors
    lines = (SHIPPED_CONFIG / "settings.yaml").read_text(encoding="utf-8").splitlines()
    assert "helpline: tele_onthaal" in lines[marks.helpline("nl").line - 1]
    with pytest.raises(KeyError, match=r"languages\.xx"):
        marks.helpline("xx")
    with pytest.raises(KeyError, match=r"called_numbers\.\+3200000000"):
        marks.called_flow("+3200000000")


def shipped_flow() -> tuple[Catalog, FlowMarks]:
    """The shipped flow, read without the caller checker, and where it names its nodes."""
    errors: list[ConfigError] = []
    settings, settings_marks = parse_settings(SHIPPED_CONFIG / "settings.yaml", errors)
    assert settings is not None
    helplines = parse_helplines(
        SHIPPED_CONFIG / "helplines.yaml", errors, settings.languages, settings_marks, settings.called_numbers
    )
    assert helplines is not None
    flow, marks = parse_flow(SHIPPED_FLOWS / "helpline.yaml", errors, settings, helplines)
    assert flow is not None and not errors
    return Catalog(settings, frozen_map(helplines), frozen_map({flow.name: flow})), marks


def written(mark: Mark) -> str:
    """The shipped flow's text from ``mark`` to the end of its line."""
    lines = (SHIPPED_FLOWS / "helpline.yaml").read_text(encoding="utf-8").splitlines()
    return lines[mark.line - 1][mark.column - 1 :]


def test_a_mark_asked_for_a_flow_place_never_read_is_an_error_not_the_first_line() -> None:
    _, marks = shipped_flow()
    assert written(marks.start("talk_now")) == "listening_line"
    assert written(marks.node("first_menu")) == "first_menu:"
    assert written(marks.link(Option("first_menu", "5"))).startswith("kinds_of_help,")
    assert written(marks.link(Exit("welcome", "talk_now"))) == "every_line"
    # A menu without its own after_retries is pointed at the one under 'defaults:'.
    assert written(marks.link(Exit("main", "after_retries"))) == "listening_line"
    assert written(marks.text_message_key()) == '"#"'
    with pytest.raises(KeyError, match=r"nodes\.nowhere was not read"):
        marks.node("nowhere")
    with pytest.raises(KeyError, match=r'nodes\.first_menu\.options\."9" was not read'):
        marks.link(Option("first_menu", "9"))
    with pytest.raises(KeyError, match=r"nodes\.every_line\.next was not read"):
        marks.link(Exit("every_line", "next"))  # a transfer names no next node
    with pytest.raises(KeyError, match=r"text_message\.key was not read"):
        FlowMarks().text_message_key()


def test_the_caller_checker_points_at_a_taken_text_key_where_the_flow_writes_it() -> None:
    catalog, marks = shipped_flow()
    flow = catalog.flows["helpline"]
    assert flow.text_message is not None
    taken = replace(flow, text_message=replace(flow.text_message, key="0"))
    (error,) = check_calls(replace(catalog, flows=frozen_map({"helpline": taken})), {"helpline": marks})
    assert (error.path, error.message) == ("text_message.key", "the text-message key is already the talk-now key")
    assert written(error.mark) == '"#"'


def test_a_setting_left_empty_is_reported_at_its_own_key(tmp_path: Path) -> None:
    # Each key of a language is declared once (ivr.loading.settings_file.LANGUAGE) and read at its own path.
    config, lines = shipped_config_with(tmp_path, "voice: Polly.Vicki-Neural", "voice:")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, SHIPPED_FLOWS)
    (error,) = [e for e in caught.value.errors if "found nothing" in e.message]
    assert (error.path, error.message) == ("languages.de.voice", "expected text, found nothing")
    assert lines[error.mark.line - 1].strip() == "voice:"


def test_a_helpline_key_left_empty_is_reported_at_its_own_key(tmp_path: Path) -> None:
    # Each key of a line is declared once (ivr.loading.helplines_file.LINE) and read at its own path.
    config = tmp_path / "config"
    shutil.copytree(SHIPPED_CONFIG, config)
    text = (config / "helplines.yaml").read_text(encoding="utf-8")
    old = "chat_hours: zu bestimmten Zeiten"
    assert old in text
    (config / "helplines.yaml").write_text(text.replace(old, "chat_hours:", 1), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, SHIPPED_FLOWS)
    (error,) = [e for e in caught.value.errors if "found nothing" in e.message]
    assert error.path == "helplines.telefonhilfe.chat_hours"
    assert error.message == "expected when the chat is open, in words, found nothing"
    assert text.splitlines()[error.mark.line - 1].strip() == old
