"""Flow diagrams: Mermaid, DOT and SVG, from the loaded model; and the copy of them in the caller's journey (docs)."""

from __future__ import annotations

import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.cli_support import ExitCode
from ivr.graph import diagram, to_dot, to_mermaid, to_svg
from ivr.loader import load_catalog
from ivr.model import Catalog
from support import DATA, ROOT
from support.docs_pages import section

DOCS_COMMAND = ["graph", "--format", "mermaid", "--lang", "en"]
PAGE = "callers-journey.md"


@pytest.fixture(scope="module")
def mini() -> Catalog:
    return load_catalog(DATA / "config", DATA / "flows")


def mermaid_of(catalog: Catalog, lang: str) -> str:
    return to_mermaid(diagram(catalog, catalog.flows["mini"], lang))


def test_mermaid_edges_show_keys_silence_and_wrong_keys(mini: Catalog) -> None:
    lines = mermaid_of(mini, "fr").splitlines()
    assert lines[0] == "flowchart TD"
    for edge in (
        '    n_welcome -->|"1 nl, 2 fr"| n_main',
        '    n_welcome -->|"0"| n_every',
        '    n_welcome -.->|"no input ×3, wrong key ×2"| n_every',
        '    n_every -->|"1 nl, 2 fr"| n_main',
        '    n_every -.->|"no input ×2"| p_call_ends',
        '    n_main -->|"3"| n_info',
        '    n_main -->|"4"| n_bye',
        '    n_main -.->|"no input ×3, wrong key ×2"| n_line',
        '    n_info -.->|"no input, other keys"| n_main',
        '    n_line -.->|"no input"| p_call_ends',
        "    n_bye -.-> p_call_ends",
        '    p_any_menu -->|"0 talk now"| n_line',
        '    p_any_menu -->|"* main menu"| n_main',
    ):
        assert edge in lines


def test_nodes_show_kind_and_first_words_in_the_chosen_language(mini: Catalog) -> None:
    french = mermaid_of(mini, "fr")
    assert '    n_main["main · menu<br/>“Appelez Télé-Accueil au 1 0 7. Urgence:…”"]' in french
    assert '    n_bye["bye · goodbye<br/>“Au revoir. Le 1 0 7 vous…”"]' in french  # cut after 7 words
    assert '    n_info["info · message<br/>“Inspirez. Expirez.”"]' in french  # the pause is not words
    dutch = mermaid_of(mini, "nl")
    assert "“Bel Tele-Onthaal op 1 0 6. Nood:…”" in dutch


def test_transfers_show_the_line_and_its_number(mini: Catalog) -> None:
    # French: no E.164 target, so the number is said. Dutch: two targets are dialled first.
    assert "line · transfer<br/>Télé-Accueil 107 · says the number" in mermaid_of(mini, "fr")
    assert "line · transfer<br/>Tele-Onthaal 106 · dials +3290000001, +3290000002, else says the number" in mermaid_of(mini, "nl")


def test_mermaid_escapes_what_would_break_a_label(mini: Catalog, tmp_path: Path) -> None:
    flow = (DATA / "flows" / "mini.yaml").read_text(encoding="utf-8")
    flow = flow.replace('options: {"3": info, "4": bye}', 'options: {"3": info, "4": bye, "#": info}')
    flow = flow.replace(
        'fr: "Appelez {name:line} au {number:line}. Urgence: {number:emergency}."',
        'fr: "Info: \\"3\\" ou <#>. {number:line}, urgence {number:emergency}."',
    )
    (tmp_path / "mini.yaml").write_text(flow, encoding="utf-8")
    catalog = load_catalog(DATA / "config", tmp_path)
    text = mermaid_of(catalog, "fr")
    assert '    n_main["main · menu<br/>“Info: #quot;3#quot; ou #lt;#35;#gt;. 1 0 7,…”"]' in text
    assert '    n_main -->|"3, #35;"| n_info' in text


def test_dot_gives_every_node_an_svg_id_and_dashes_silence(mini: Catalog) -> None:
    dot = to_dot(diagram(mini, mini.flows["mini"], "fr"))
    assert dot.startswith('digraph "mini" {')
    assert '"main" [id="node-main", label="main · menu\\n“Appelez Télé-Accueil au 1 0 7. Urgence:…”"' in dot
    assert '"main" -> "line" [label="no input ×3, wrong key ×2", style=dashed];' in dot
    assert '"main" -> "info" [label="3"];' in dot
    assert '"any-menu" -> "line" [label="0 talk now"];' in dot


def test_svg_has_the_nodes_ids(mini: Catalog) -> None:
    svg = to_svg(to_dot(diagram(mini, mini.flows["mini"], "fr")))
    svg = unescape(svg)  # Graphviz writes '-' as &#45;
    for node in ("welcome", "main", "info", "line", "bye", "any-menu", "call-ends"):
        assert f'<g id="node-{node}" class="node">' in svg
    assert "Télé-Accueil 107 · says the number" in svg


def test_graph_command_formats_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--config", str(DATA / "config"), "--flows", str(DATA / "flows")]
    mermaid = runner.invoke(main, ["graph", *args, "--lang", "fr"])
    assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart TD\n")
    dot = runner.invoke(main, ["graph", *args, "--format", "dot"])
    assert dot.exit_code == 0 and dot.output.startswith('digraph "mini"')
    out = tmp_path / "flow.svg"
    svg = runner.invoke(main, ["graph", *args, "--format", "svg", "-o", str(out)])
    assert svg.exit_code == 0 and out.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    bad_lang = runner.invoke(main, ["graph", *args, "--lang", "de"])
    assert bad_lang.exit_code == 2 and "language 'de' is not offered; choose one of: nl, fr" in bad_lang.output
    bad_flow = runner.invoke(main, ["graph", *args, "--flow", "nope"])
    assert bad_flow.exit_code == 2 and "no flow named 'nope'; the flows are: mini" in bad_flow.output


def test_svg_without_graphviz_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    result = CliRunner().invoke(
        main, ["graph", "--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--format", "svg"]
    )
    assert result.exit_code == ExitCode.TOOL_MISSING == 4
    assert "apt-get install graphviz" in result.output


def docs_diagram() -> str:
    found = re.search(r"^```mermaid\n(.*?)^```$", section(PAGE, "Call flow diagram"), re.MULTILINE | re.DOTALL)
    assert found, f"docs/{PAGE} needs a 'Call flow diagram' section with a ```mermaid block"
    return found.group(1)


def test_the_docs_diagram_is_the_shipped_flow_as_it_is_now() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ivr", *DOCS_COMMAND], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert docs_diagram() == done.stdout, (
        "The docs' diagram is out of date. Regenerate it with `ivr graph --format mermaid --lang en` "
        f"and paste the output into the ```mermaid block under 'Call flow diagram' in docs/{PAGE}."
    )
