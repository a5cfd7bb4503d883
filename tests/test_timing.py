"""Time to a human: spoken lengths added up along the real call paths, checked against the budgets."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import DATA, ROOT
from ivr.app import create_app
from ivr.audio import AudioEntry, manifest_json
from ivr.cli import main
from ivr.errors import ConfigErrors
from ivr.loader import load_catalog
from ivr.model import Catalog, LanguageNode, MenuNode, Pause, PromptPart, Speech
from ivr.settings import Settings
from ivr.timing import Clock, check_calls, measure, says_number, word_count

SHIPPED_FLOW = ROOT / "ivr" / "flows" / "helpline.yaml"
OVER_BUDGET = sorted((DATA / "over_budget").glob("*.yaml"))


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(ROOT / "config", ROOT / "ivr" / "flows")


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line that starts with ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(text))


def flow_dir(tmp_path: Path, source: Path, name: str = "mini") -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(source, flows / f"{name}.yaml")
    return flows


def config_with(tmp_path: Path, source: Path, extra: str) -> Path:
    config = tmp_path / "config"
    shutil.copytree(source, config)
    with (config / "settings.yaml").open("a", encoding="utf-8") as f:
        f.write(extra)
    return config


def test_words_are_counted_as_a_voice_says_them() -> None:
    assert word_count("Bel Tele-Onthaal op 1 0 6.") == 6  # each digit said on its own is a word
    assert word_count("Je répète : 1 0 7.") == 5  # a lone colon is not
    assert word_count("") == 0


def test_speech_lasts_its_words_per_second_and_a_pause_its_seconds() -> None:
    clock = Clock({"nl": 2.0, "fr": 2.5})
    assert clock.seconds(Speech("k", "nl", "Adem rustig in.")) == pytest.approx(1.5)
    assert clock.seconds(Speech("k", "fr", "Inspirez doucement par le nez.")) == pytest.approx(2.0)
    assert clock.seconds(Pause(4)) == 4.0


def test_real_audio_lengths_replace_the_estimate_where_known() -> None:
    clock = Clock({"nl": 2.0}, duration_of=lambda speech: 7.25 if speech.key == "built" else None)
    assert clock.seconds(Speech("built", "nl", "Adem in.")) == 7.25
    assert clock.seconds(Speech("not_built", "nl", "Adem in.")) == pytest.approx(1.0)
    assert clock.seconds(Pause(3)) == 3.0


@pytest.mark.parametrize(
    ("text", "number", "said"),
    [
        ("Bel 1 0 6.", "1 0 6", True),
        ("Tele-Onthaal, 1 0 6, en Télé-Accueil, 1 0 7.", "1 0 7", True),
        ("Bel 1 0 6, 1 0 7.", "1 0 6", True),  # groups of one number are joined by ", "
        ("Bel 2 1 0 6.", "1 0 6", False),
        ("Bel 1 0 6 7.", "1 0 6", False),
        ("Bel 1 0 6.", "1 0 7", False),
    ],
)
def test_a_number_counts_only_when_said_whole(text: str, number: str, said: bool) -> None:
    assert says_number(text, number) is said


def test_the_shipped_flow_is_within_every_budget(shipped: Catalog) -> None:
    (times,) = measure(shipped)
    s = shipped.settings
    assert [(lt.lang, lt.key) for lt in times.languages] == [("nl", "1"), ("fr", "2"), ("de", "3"), ("en", "4")]
    for lt in times.languages:
        assert lt.hears_line.seconds is not None and lt.hears_line.seconds <= s.time_to_human_budget == 15
        assert lt.talk_now.seconds is not None and lt.talk_now.seconds <= s.talk_now_budget == 12
        assert lt.silent_after_key.seconds is not None and lt.silent_after_key.seconds <= s.silence_budget == 60
        assert lt.welcome_misses == ()
    (silent,) = times.silent
    assert (silent.called, silent.default_language) == (("",), "nl")
    assert silent.figure.seconds is not None and silent.figure.seconds <= 60 and silent.figure.end == "every_line"
    assert silent.talk_now_first is not None and silent.talk_now_first.seconds is not None
    assert silent.talk_now_first.seconds <= 60 and silent.talk_now_first.end == "every_line"
    assert check_calls(shipped) == []


def _seconds(catalog: Catalog, parts: tuple[PromptPart, ...]) -> float:
    wps = {code: ls.words_per_second for code, ls in catalog.settings.languages.items()}
    return sum(float(p.seconds) if isinstance(p, Pause) else word_count(p.text) / wps[p.lang] for p in parts)


def test_hearing_the_line_counts_from_the_start_of_the_call(shipped: Catalog) -> None:
    """Worked out by hand from the prompts: the caller hears the welcome up to their own language, then the first menu."""
    flow = shipped.flows["helpline"]
    welcome = flow.nodes[flow.start]
    assert isinstance(welcome, LanguageNode)
    first = flow.nodes[welcome.next]
    assert isinstance(first, MenuNode)
    (times,) = measure(shipped)
    heard_before = 0.0
    for lt in times.languages:
        heard_before += _seconds(shipped, welcome.prompt.parts(lt.lang))
        parts = first.prompt.parts(lt.lang)
        says_0 = next(i for i, p in enumerate(parts) if isinstance(p, Speech) and re.search(r"(?<!\w)0(?!\w)", p.text))
        assert lt.hears_line.seconds == pytest.approx(heard_before + _seconds(shipped, parts[: says_0 + 1]))
        assert [node for node, _ in lt.hears_line.steps] == ["welcome", "first_menu"]


def test_the_figures_follow_real_audio_lengths(shipped: Catalog) -> None:
    """With every prompt one second long, the figures count the prompts a caller hears."""
    (times,) = measure(shipped, duration_of=lambda speech: 1.0)
    by_lang = {lt.lang: lt for lt in times.languages}
    assert by_lang["nl"].hears_line.seconds == 2.0  # its welcome sentence, then "press 0" comes first
    assert by_lang["en"].hears_line.seconds == 5.0  # four welcome sentences, then "press 0"
    assert by_lang["en"].talk_now.seconds == 1.0  # press 4 then 0: the number, in the first sentence
    welcome = shipped.flows["helpline"].nodes["welcome"]
    assert isinstance(welcome, LanguageNode)
    # welcome (4 sentences) + timeout, then every language's line and 112 (4 sentences)
    assert times.silent[0].figure.seconds == 4 + welcome.timeout + 4
    assert times.silent[0].talk_now_first is not None and times.silent[0].talk_now_first.seconds == 4 + 4


def test_numbers_with_another_default_language_are_timed_for_it() -> None:
    (times,) = measure(load_catalog(DATA / "config", DATA / "flows"))
    assert [(sc.called, sc.default_language) for sc in times.silent] == [(("",), "nl"), (("+3225550101",), "fr")]
    nl, fr = (sc.figure for sc in times.silent)
    assert nl.end == fr.end == "every"  # no language chosen: every line is said, none is dialled
    assert fr.seconds is not None and fr.seconds == nl.seconds  # the same texts, the default language first


@pytest.mark.parametrize("path", OVER_BUDGET, ids=[p.stem for p in OVER_BUDGET])
def test_an_over_budget_flow_is_refused_with_file_line_and_fix(path: Path, tmp_path: Path) -> None:
    line, fragment = re.match(r"# expect: (\d+): (.+)", path.read_text(encoding="utf-8").splitlines()[0]).groups()  # type: ignore[union-attr]
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(DATA / "config", flow_dir(tmp_path, path))
    matching = [e for e in caught.value.errors if fragment in e.message]
    assert matching, caught.value.report()
    error = matching[0]
    assert (error.mark.file.endswith("flows/mini.yaml"), error.mark.line) == (True, int(line))
    assert re.search(r"after \d+\.\d s .*\(budget \d+ s\): \w+ \d+\.\d s", error.message)  # the figure and where it went
    assert error.hint


def test_create_app_refuses_an_over_budget_flow(settings: Settings, tmp_path: Path) -> None:
    flows = flow_dir(tmp_path, DATA / "over_budget" / "slow_transfer.yaml")
    with pytest.raises(ConfigErrors, match="who press 0 reach Télé-Accueil after"):
        create_app(replace(settings, config_dir=DATA / "config", flows_dir=flows))


def validate(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def test_validate_prints_the_figures_per_language(tmp_path: Path) -> None:
    result = validate("--config", str(ROOT / "config"), "--flows", str(ROOT / "ivr" / "flows"), "--audio-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    (times,) = measure(load_catalog(ROOT / "config", ROOT / "ivr" / "flows"))
    assert "(seconds, estimated from words per second)" in result.output  # no audio built in tmp_path
    for lt, name in zip(times.languages, ("Nederlands", "Français", "Deutsch", "English"), strict=True):
        row = re.search(rf"^  {name} \({lt.lang}\) +{lt.key} +([0-9.]+) +([0-9.]+) +([0-9.]+)$", result.output, re.M)
        assert row, result.output
        assert row.groups() == (lt.hears_line.shown(), lt.talk_now.shown(), lt.silent_after_key.shown())
    assert re.search(r"^  budget +15 +12 +60$", result.output, re.M)
    silent = times.silent[0]
    assert silent.talk_now_first is not None
    assert (
        f"Every language's line and 112 (calls to any number), pressing nothing: after {silent.figure.shown()} s; "
        f"pressing 0 at the welcome: after {silent.talk_now_first.shown()} s (budget 60)."
    ) in result.output


def built_welcome(catalog: Catalog, audio: Path, seconds: float) -> Path:
    """A manifest in which each language's welcome sentence lasts ``seconds``."""
    welcome = catalog.flows["helpline"].nodes["welcome"]
    entries = {
        (speech.key, speech.lang): AudioEntry(f"{speech.lang}/{index:032x}.mp3", seconds, speech.text, "test")
        for index, speech in enumerate(p for lang in catalog.settings.offered for p in welcome.prompt.parts(lang))
        if isinstance(speech, Speech)
    }
    audio.mkdir(exist_ok=True)
    (audio / "manifest.json").write_text(manifest_json(entries), encoding="utf-8")
    return audio


def test_validate_times_built_audio_by_its_real_length(tmp_path: Path, shipped: Catalog) -> None:
    audio = built_welcome(shipped, tmp_path / "short", 1.0)
    result = validate("--config", str(ROOT / "config"), "--flows", str(ROOT / "ivr" / "flows"), "--audio-dir", str(audio))
    assert result.exit_code == 0, result.output
    assert "(seconds, real audio lengths where known, else words per second)" in result.output
    (times,) = measure(shipped, duration_of=lambda speech: 1.0 if speech.key.startswith("helpline/welcome.prompt") else None)
    assert f"English (en)      4 {times.languages[-1].hears_line.shown():>19}" in result.output
    # A welcome whose audio lasts 6 s per language keeps English callers from the line for too long.
    audio = built_welcome(shipped, tmp_path / "long", 6.0)
    result = validate("--config", str(ROOT / "config"), "--flows", str(ROOT / "ivr" / "flows"), "--audio-dir", str(audio))
    assert result.exit_code == 1
    first_menu_line = line_of(SHIPPED_FLOW, "  first_menu:")
    assert f"helpline.yaml:{first_menu_line}:3: nodes.first_menu: English callers (key 4) hear how to reach" in result.output
    assert "welcome 24.0 s + first_menu" in result.output  # four welcome sentences of 6 s each


def test_validate_warns_about_a_corrupt_manifest_and_times_by_estimates(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"format": 1, "prom', encoding="utf-8")  # a build cut short
    result = validate("--config", str(ROOT / "config"), "--flows", str(ROOT / "ivr" / "flows"), "--audio-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path / 'manifest.json'}: cannot be read" in result.output
    assert "(seconds, estimated from words per second)" in result.output


def test_validate_fails_over_budget_with_the_location(tmp_path: Path) -> None:
    flows = flow_dir(tmp_path, DATA / "over_budget" / "slow_silence.yaml")
    result = validate("--config", str(DATA / "config"), "--flows", str(flows), "--audio-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "mini.yaml:16:3: nodes.welcome: a caller who presses nothing" in result.output
    assert "Time to a human" not in result.output


def test_the_silence_budget_comes_from_settings(tmp_path: Path) -> None:
    text = (ROOT / "config" / "settings.yaml").read_text(encoding="utf-8")
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "settings.yaml").write_text(re.sub(r"silence: *60", "silence: 30", text), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, ROOT / "ivr" / "flows")
    errors = caught.value.errors
    assert all("(budget 30 s)" in e.message for e in errors)
    (never,) = [e for e in errors if "a caller who presses nothing (calls to any number) hears every offered" in e.message]
    assert never.mark.line == line_of(SHIPPED_FLOW, "  welcome:")
    (zero,) = [e for e in errors if "a caller who presses 0 at the welcome (calls to any number) hears every" in e.message]
    assert zero.mark.line == line_of(SHIPPED_FLOW, "  welcome:")
    after_key = [e for e in errors if "who then press nothing" in e.message]
    # German callers hear the Telefonhilfe's number in the first menu already (it is also their suicide line).
    assert [e.message.split(" callers")[0] for e in after_key] == ["Nederlands", "Français", "English"]
    assert {e.mark.line for e in after_key} == {line_of(SHIPPED_FLOW, "  first_menu:")}


def test_the_welcome_must_say_the_lines_named_in_settings(tmp_path: Path) -> None:
    config = config_with(tmp_path, DATA / "config", "welcome_names: [emergency]\n")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    errors = caught.value.errors
    assert [e.message for e in errors] == [
        "the Nederlands welcome does not say 112 (1 1 2)",
        "the Français welcome does not say 112 (1 1 2)",
    ]
    assert {e.mark.line for e in errors} == {line_of(DATA / "flows" / "mini.yaml", "  main:")}
    assert "{number:emergency}" in errors[0].hint


def test_welcome_names_must_be_known_lines(tmp_path: Path) -> None:
    config = config_with(tmp_path, DATA / "config", "welcome_names: [emergncy]\n")
    with pytest.raises(ConfigErrors) as caught:
        load_catalog(config, DATA / "flows")
    (error,) = caught.value.errors
    assert error.mark.file.endswith("settings.yaml") and error.mark.line == line_of(config / "settings.yaml", "welcome_names")
    assert error.message == "unknown helpline 'emergncy'" and "emergency" in error.hint
