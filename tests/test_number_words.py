"""Numbers spelled in words, through the real CLI: `ivr validate` refuses them in a flow's prompts, with their line,
and `ivr announce set` in an announcement; single number words stay allowed, and so does the shipped flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from support import DATA, SHIPPED_CONFIG, SHIPPED_FLOWS

START, END = "2026-01-01T00:00+01:00", "2099-12-31T00:00+01:00"
LINE = 30  # of "Adem in." / "Inspirez." in tests/data/flows/mini.yaml

# Every text the last review still found accepted, and the spellings the guard must know.
REFUSED = [
    ("nl", "Bel honderdvijf.", "spells the number 'honderdvijf' (105)"),
    ("nl", "Bel honderd vijf.", "spells the number 'honderd vijf' (105)"),
    ("nl", "Bel honderd en vijf.", "spells the number 'honderd en vijf' (105)"),
    ("nl", "Bel tien-vijf.", "says the numbers 'tien-vijf' one after the other"),
    ("nl", "Bel tweehonderd.", "spells the number 'tweehonderd' (200)"),
    ("nl", "Bel 1 o 5.", "says the number '1 o 5' literally"),
    ("nl", "Bel 1 Ｏ 5.", "says the number '1 Ｏ 5' literally"),
    ("nl", "Bel 1️⃣0️⃣5️⃣.", "says the number '1️⃣0️⃣5' literally"),
    ("nl", "Bel één nul zes.", "says the number 'één nul zes' literally (the number of tele_onthaal)"),
    ("nl", "Bel honderdenzes.", "spells 'honderdenzes', the number of tele_onthaal"),
    ("fr", "Appelez cent sept.", "spells 'cent sept', the number of tele_accueil"),
    ("fr", "Appelez le cent cinq.", "spells the number 'cent cinq' (105)"),
]
ACCEPTED = [
    ("nl", "Adem in door je neus, en kijk met vier ogen."),
    ("nl", "Noem vijf dingen die je ziet, en drie die je hoort."),
    ("nl", "Het kost je geen cent."),
    ("fr", "Utilisez vos cinq sens."),
    ("fr", "Vingt-quatre heures sur vingt-quatre."),
]


def validate_with(tmp_path: Path, lang: str, text: str) -> tuple[int, str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    mini = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    old = {"nl": "Adem in.", "fr": "Inspirez."}[lang]
    assert mini.splitlines()[LINE - 1].count(old) == 1
    (flows / "mini.yaml").write_text(mini.replace(old, text), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--config", str(DATA / "config"), "--flows", str(flows)])
    return result.exit_code, result.output


@pytest.mark.parametrize(("lang", "text", "message"), REFUSED, ids=[text for _, text, _ in REFUSED])
def test_ivr_validate_refuses_a_number_in_words_with_its_line(tmp_path: Path, lang: str, text: str, message: str) -> None:
    code, output = validate_with(tmp_path, lang, text)
    assert code == 1
    assert f"flows/mini.yaml:{LINE}:" in output and f"nodes.info.prompt[0].{lang}: the prompt {message}" in output, output
    assert "1 error found" in output


@pytest.mark.parametrize(("lang", "text"), ACCEPTED, ids=[text for _, text in ACCEPTED])
def test_ivr_validate_accepts_single_number_words(tmp_path: Path, lang: str, text: str) -> None:
    code, output = validate_with(tmp_path, lang, text)
    assert code == 0, output


def test_the_shipped_flow_with_its_single_number_words_still_loads() -> None:
    shipped = (SHIPPED_FLOWS / "helpline.yaml").read_text(encoding="utf-8")
    assert all(word in shipped for word in ("vijf", "vier", "drie", "twee", "één", "cinq", "quatre"))
    result = CliRunner().invoke(main, ["validate", "--config", str(SHIPPED_CONFIG), "--flows", str(SHIPPED_FLOWS)])
    assert result.exit_code == 0, result.output


def announce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, text: str) -> tuple[int, str]:
    monkeypatch.setenv("IVR_ANNOUNCEMENT_FILE", str(tmp_path / "announcement.json"))
    monkeypatch.setenv("IVR_CONFIG", str(DATA / "config"))
    monkeypatch.setenv("IVR_FLOWS", str(DATA / "flows"))
    result = CliRunner().invoke(main, ["announce", "set", "--say", lang, text, "--start", START, "--end", END])
    return result.exit_code, result.output


ANNOUNCED = [
    ("nl", "Bel gerust één nul zes of één nul zeven.", "it says the number 'één nul zes' literally (the number of tele_onthaal)"),
    ("nl", "Bel één-nul-zes.", "it says the number 'één-nul-zes' literally (the number of tele_onthaal)"),
    ("nl", "Bel honderdenzes.", "it spells 'honderdenzes', the number of tele_onthaal"),
    ("nl", "Bel honderd vijf.", "it spells the number 'honderd vijf' (105)"),
    ("nl", "Bel tien-vijf.", "it says the numbers 'tien-vijf' one after the other"),
    ("fr", "Appelez le cent sept.", "it spells 'cent sept', the number of tele_accueil"),
    ("nl", "Bel 1️⃣0️⃣6️⃣.", "has a digit"),
    ("nl", "Bel ١٠٦.", "has a digit"),
]


@pytest.mark.parametrize(("lang", "text", "message"), ANNOUNCED, ids=[text for _, text, _ in ANNOUNCED])
def test_ivr_announce_set_refuses_a_number_in_words_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, text: str, message: str
) -> None:
    code, output = announce(tmp_path, monkeypatch, lang, text)
    assert code == 1 and f"the {lang} text" in output and message in output, output
    assert not (tmp_path / "announcement.json").exists()


def test_ivr_announce_set_takes_single_number_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = announce(tmp_path, monkeypatch, "nl", "Vanavond is het erg druk: vier ogen zien meer dan twee.")
    assert code == 0, output
    written = json.loads((tmp_path / "announcement.json").read_text(encoding="utf-8"))
    assert written["text"] == {"nl": "Vanavond is het erg druk: vier ogen zien meer dan twee."}
