"""Every document well-formed, whatever the operators typed: characters XML 1.0 forbids never reach a TwiML answer.

They are refused where text comes in: the YAML files at load (a located error naming the character), `ivr announce
set`, and each read of the announcement (no announcement, and one warning). The property tests render what the checks
accept through the real app, engine and TwiML renderer, and validate every answer against Twilio's schema.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema
from click.testing import CliRunner
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from ivr.announcements import AnnouncementError, parse
from ivr.app import create_app
from ivr.characters import FORBIDDEN
from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.settings import Settings
from support import DATA, TwilioClient, assert_valid_twiml

LANGS = ("nl", "fr")
START, END = "2026-01-01T00:00+01:00", "2099-12-31T00:00+01:00"  # on whenever the test runs
# One of each kind: C0 controls, DEL and C1, U+FFFE/U+FFFF, a lone surrogate, the other noncharacters.
BAD = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x92", "\ufffe", "\uffff", "\ud800", "\udfff"]
BAD += ["\ufdd0", "\U0001fffe", "\U0010ffff"]
FINE = ["\t", "\n", "\r", " ", "é", "\u00a0", "\u200b", "\ue000", "\ufffd", "\U0001f600", "\u05d0", "\u0627"]


def announcement(text: str, lang: str = "nl") -> str:
    return json.dumps({"text": {lang: text}, "start": START, "end": END})  # ASCII: a surrogate is written \ud800


@pytest.mark.parametrize("char", BAD, ids=[f"U+{ord(c):04X}" for c in BAD])
def test_an_announcement_with_a_character_xml_forbids_is_refused_by_name_and_position(char: str) -> None:
    with pytest.raises(AnnouncementError) as caught:
        parse(announcement(f"Druk {char}nu op de toets."), LANGS)
    assert f"the nl text: character 6 of the text is U+{ord(char):04X} (" in str(caught.value)
    assert "delete it" in str(caught.value)
    assert char not in str(caught.value)  # named, never echoed: the message itself prints anywhere


@pytest.mark.parametrize("char", FINE, ids=[f"U+{ord(c):04X}" for c in FINE])
def test_other_characters_stay_allowed(char: str) -> None:
    assert parse(announcement(f"Druk {char}nu op de toets."), LANGS).text["nl"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_ivr_announce_set_refuses_a_control_character_and_keeps_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "announcement.json"
    monkeypatch.setenv("IVR_ANNOUNCEMENT_FILE", str(file))
    code, output = run("announce", "set", "--say", "nl", "Druk nu op de toets, we zijn er.", "--start", START, "--end", END)
    assert code == 0, output
    before = file.read_bytes()
    code, output = run("announce", "set", "--say", "nl", "Druk \x01nu op de toets, we zijn er.", "--start", START, "--end", END)
    assert code == 1 and "character 6 of the text is U+0001 (a control character)" in output
    assert file.read_bytes() == before


def test_ivr_announce_show_names_a_lone_surrogate_instead_of_crashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "announcement.json"
    file.write_text(announcement("We zijn er voor je \ud800 blijf aan de lijn."), encoding="ascii")
    monkeypatch.setenv("IVR_ANNOUNCEMENT_FILE", str(file))
    code, output = run("announce", "show")
    assert code == 1
    assert "character 20 of the text is U+D800 (half of a surrogate pair, alone)" in output
    assert "callers hear no announcement" in output


@pytest.mark.slow
@given(content=st.one_of(st.binary(max_size=300), st.text(st.characters(exclude_categories=()), max_size=100).map(announcement)))
@example(content=announcement("\ud800"))
@example(content=b'{"text": {"nl": "\xff"}, "start": "2026-01-01T00:00+01:00", "end": "2099-12-31T00:00+01:00"}')
@example(content=b"[" * 100_000)
@example(content=b'{"text": {"\\ud800": "x"}, "start": "1", "end": "2"}')
@settings(max_examples=100)
def test_ivr_announce_show_never_crashes_whatever_the_file_holds(content: bytes | str, tmp_path_factory) -> None:
    file = tmp_path_factory.mktemp("show") / "announcement.json"
    file.write_bytes(content if isinstance(content, bytes) else content.encode("ascii"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IVR_ANNOUNCEMENT_FILE", str(file))
        patch.setenv("IVR_CONFIG", str(DATA / "config"))  # the small test flow: each example loads it
        patch.setenv("IVR_FLOWS", str(DATA / "flows"))
        code, output = run("announce", "show")
    assert code in (0, 1), output
    assert code == 0 or output.startswith("warning: ")


# --- while serving ----------------------------------------------------------------------------------


def app_with(settings: Settings, **changes: object) -> TwilioClient:
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=DATA / "flows", **changes))  # type: ignore[arg-type]
    return TwilioClient(app.test_client())


def to_the_line(twilio: TwilioClient, schema: xmlschema.XMLSchema) -> list[str]:
    """A Dutch caller who presses 1, then 0 (the talk-now key), and every target busy: every answer valid; what the
    last one says (the announcement comes after the line's number)."""
    welcome = assert_valid_twiml(schema, twilio.post("/voice"))
    menu = assert_valid_twiml(schema, twilio.follow(welcome.gather_action(), "1"))
    answer = assert_valid_twiml(schema, twilio.follow(menu.gather_action(), "0"))
    while (dial := answer.root.find("Dial")) is not None:
        answer = assert_valid_twiml(schema, twilio.follow(dial.attrib["action"], DialCallStatus="busy"))
    return answer.texts()


def test_a_file_with_a_forbidden_character_is_no_announcement_and_one_warning(
    settings: Settings, tmp_path: Path, twiml_schema: xmlschema.XMLSchema, json_log: io.StringIO
) -> None:
    file = tmp_path / "announcement.json"
    file.write_text(announcement("Druk \x01nu op de toets, we zijn er."), encoding="utf-8")
    twilio = app_with(settings, announcement_file=file)
    for _ in range(3):
        said = to_the_line(twilio, twiml_schema)
        assert not any("toets" in text for text in said)
    warnings = [line for line in json_log.getvalue().splitlines() if "announcement ignored" in line]
    assert len(warnings) == 1 and "U+0001" in warnings[0]


# Text for the property tests: any code point, surrogates included, with the forbidden ones often.
ANY_TEXT = st.text(
    st.one_of(st.characters(exclude_categories=()), st.sampled_from([*BAD, *FINE, *"aZé .,'<>&\""])), min_size=1, max_size=60
)


@pytest.mark.slow
@given(text=ANY_TEXT)
@example(text="Druk \x01nu op de toets.")
@example(text="We zijn er voor je \ud800 blijf aan de lijn.")
@example(text="<break time='1s'/> ]]> </Say><Dial>x</Dial> &amp; \uffff")
@settings(max_examples=100)
def test_any_announcement_the_checks_accept_gives_documents_twilio_accepts(
    text: str, settings: Settings, tmp_path_factory, twiml_schema: xmlschema.XMLSchema
) -> None:
    file = tmp_path_factory.mktemp("announcement") / "announcement.json"
    raw = announcement(text)
    file.write_text(raw, encoding="ascii")
    try:
        accepted = parse(raw, LANGS)
    except AnnouncementError:
        accepted = None
    if FORBIDDEN.search(text):
        assert accepted is None
    said = to_the_line(app_with(settings, announcement_file=file), twiml_schema)
    assert said == ["Niemand bereikt.", "Bel Tele-Onthaal: 1 0 6."] + ([accepted.text["nl"]] if accepted else [])


def yaml_quoted(text: str) -> str:
    """``text`` as a double-quoted YAML scalar, with escapes for whatever a file cannot hold as it is."""
    out = []
    for char in text:
        if char.isprintable() and char not in '"\\' and not FORBIDDEN.match(char):
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


@pytest.mark.slow
@given(text=ANY_TEXT)
@example(text="Info: druk \x01 op de toets.")
@example(text="Info \udfff.")
@example(text="Info \U0001f600 \u00a0 \ufffd.")
@settings(max_examples=100)
def test_any_prompt_the_loader_accepts_gives_documents_twilio_accepts(
    text: str, settings: Settings, tmp_path_factory, twiml_schema: xmlschema.XMLSchema
) -> None:
    flows = tmp_path_factory.mktemp("flows")
    mini = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    old = '- {nl: "Info: druk 3. Praten: druk 0."'
    assert old in mini
    (flows / "mini.yaml").write_text(mini.replace(old, f"- {{nl: {yaml_quoted(text)}"), encoding="utf-8")
    try:
        load_catalog(DATA / "config", flows)
    except ConfigErrors as refused:
        event("refused at load")
        if FORBIDDEN.search(text):
            assert any("of the text is U+" in error.message for error in refused.errors)
        return
    assert not FORBIDDEN.search(text)
    app = create_app(replace(settings, config_dir=DATA / "config", flows_dir=flows))
    twilio = TwilioClient(app.test_client())
    welcome = assert_valid_twiml(twiml_schema, twilio.post("/voice"))
    menu = assert_valid_twiml(twiml_schema, twilio.follow(welcome.gather_action(), "1"))
    ElementTree.fromstring(menu.body)  # well-formed (the schema check parses it too)
    for key in ("1", "2", "0", "7"):
        assert_valid_twiml(twiml_schema, twilio.follow(menu.gather_action(), key))


@pytest.mark.parametrize(
    ("escape", "named"), [("\\x01", "U+0001 (a control character)"), ("\\ud800", "U+D800"), ("\\uFFFE", "U+FFFE")]
)
def test_ivr_validate_locates_a_forbidden_character_in_a_flow(tmp_path: Path, escape: str, named: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    mini = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    (flows / "mini.yaml").write_text(mini.replace("Ik verbind je door.", f"Ik verbind{escape} je door."), encoding="utf-8")
    code, output = run("validate", "--config", str(DATA / "config"), "--flows", str(flows))
    assert code == 1
    assert f"flows/mini.yaml:38:22: nodes.line.connecting.nl: character 11 of the text is {named}" in output
    assert "fix: delete it" in output


def test_ivr_validate_locates_a_control_character_written_as_it_is_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    helplines = (config / "helplines.yaml").read_text(encoding="utf-8")
    (config / "helplines.yaml").write_text(helplines.replace("hours: jour et nuit", "hours: jour\x07 et nuit"), encoding="utf-8")
    line = next(i for i, text in enumerate(helplines.splitlines(), 1) if "hours: jour et nuit" in text)
    code, output = run("validate", "--config", str(config), "--flows", str(DATA / "flows"))
    assert code == 1
    assert f"config/helplines.yaml:{line}:16: (document): the file holds U+0007 (a control character)" in output


def test_ivr_validate_locates_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    helplines = (config / "helplines.yaml").read_bytes()
    (config / "helplines.yaml").write_bytes(helplines.replace(b"jour et nuit", b"jour \xe9t nuit"))
    line = helplines[: helplines.index(b"jour et nuit")].count(b"\n") + 1
    code, output = run("validate", "--config", str(config), "--flows", str(DATA / "flows"))
    assert code == 1 and f"config/helplines.yaml:{line}:17: (document): not UTF-8" in output
