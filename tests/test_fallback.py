"""`ivr fallback export`: the fallback TwiML as static files, for another host."""

from __future__ import annotations

import re
from pathlib import Path

import xmlschema
from click.testing import CliRunner

from ivr.cli import main
from ivr.loader import load_catalog
from support import DATA, SHIPPED_CONFIG, TwiML


def test_export_writes_one_document_per_called_number_that_only_says_the_numbers(
    tmp_path: Path, twiml_schema: xmlschema.XMLSchema
) -> None:
    result = CliRunner().invoke(main, ["fallback", "export", str(tmp_path / "out"), "--config", str(SHIPPED_CONFIG)])
    assert result.exit_code == 0, result.output
    catalog = load_catalog(SHIPPED_CONFIG)
    expected = {"fallback.xml"} | {f"fallback-{n.lstrip('+')}.xml" for n in catalog.settings.called_numbers}
    assert {p.name for p in (tmp_path / "out").iterdir()} == expected
    for path in (tmp_path / "out").iterdir():
        text = path.read_text(encoding="utf-8")
        twiml_schema.validate(text)
        answer = TwiML(200, "text/xml", text)
        # Only speech, then the end: never a <Dial>, a <Play> or a <Redirect>.
        assert set(answer.verbs()[:-1]) == {"Say"} and answer.verbs()[-1] == "Hangup", text
        # Every offered language, each in its own voice, with its line's number and 112.
        languages = catalog.settings.languages
        assert {s.attrib["language"] for s in answer.root.iter("Say")} == {
            languages[x].say_language for x in catalog.settings.offered
        }
        for lang in catalog.settings.offered:
            assert catalog.line_for(lang).spoken_number in answer.spoken()
        assert "1 1 2" in answer.spoken()
        assert not re.search(r"https?://|AC[0-9a-f]{32}|token", text), text  # no URL, no account, no credential
    assert str(tmp_path / "out" / "fallback.xml") in result.output


def test_each_called_number_hears_its_own_language_first(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    args = ["fallback", "export", str(folder), "--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    assert CliRunner().invoke(main, args).exit_code == 0
    default = TwiML(200, "text/xml", (folder / "fallback.xml").read_text(encoding="utf-8"))
    french = TwiML(200, "text/xml", (folder / "fallback-3225550101.xml").read_text(encoding="utf-8"))
    assert [s.attrib["language"] for s in default.root.iter("Say")][0] == "nl-BE"
    assert [s.attrib["language"] for s in french.root.iter("Say")][0] == "fr-BE"
    assert "1 0 7" in french.spoken() and "1 0 6" in french.spoken()


def test_export_refuses_invalid_flows_with_where_and_how(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text((SHIPPED_CONFIG / "settings.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (config / "helplines.yaml").write_text((DATA / "broken_helplines.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["fallback", "export", str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 1 and "helplines.yaml:10:" in result.output and not (tmp_path / "out").exists()
