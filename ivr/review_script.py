"""The script for native reviewers: every prompt of a flow, per language, in the order a caller meets it.

Pure: built from the loaded :class:`~ivr.model.Catalog`, so it shows exactly the words the service
says (placeholders expanded, both wordings of the talk-now key, re-prompts, the rescue that the
fallback URL says too). ``ivr prompts`` prints it as Markdown, or writes a printable HTML page.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ivr.model import (
    CONNECTS,
    EVERY_LINE,
    SAYS_NUMBER,
    Catalog,
    Flow,
    LanguageNode,
    MenuNode,
    MessageNode,
    Node,
    Pause,
    Prompt,
    Speech,
    TransferNode,
)
from ivr.timing import says_number, word_count

WORDINGS = {SAYS_NUMBER: "when 0 says the number", CONNECTS: "when 0 connects"}


@dataclass(frozen=True, slots=True)
class ScriptLine:
    """One thing said, as a reviewer reads it."""

    node: str
    reached: str  # how the caller gets here, e.g. "key 1 at first_menu"
    part: str  # which text of the node: prompt, after, re-prompt after silence…
    text: str  # the words, or "(pause 4 s)"
    seconds: float
    numbers: tuple[str, ...]  # "Tele-Onthaal 106", … that the text says
    speech: Speech | None = None  # None for a pause


# For `ivr prompts --audio-dir`: a speech's recording id and where its audio comes from.
AudioColumns = Callable[[Speech], tuple[str, str]]


def _routes(flow: Flow) -> list[tuple[str, str]]:
    """Nodes in the order a caller meets them (breadth first from the start), each with how it is reached."""
    start = flow.nodes[flow.start]
    found: dict[str, str] = {flow.start: "start of the call"}
    todo = deque([flow.start])

    def edges(node: Node) -> Iterator[tuple[str, str]]:
        if isinstance(node, LanguageNode):
            yield node.next, f"language key at {node.id}"
            yield node.talk_now, f"0 at {node.id}"
            yield node.after_retries, f"silence or wrong keys at {node.id}"
        elif isinstance(node, MenuNode):
            for key, target in sorted(node.options.items()):
                yield target, f"key {key} at {node.id}"
            yield flow.talk_now, f"{flow.keys.talk_now} at {node.id}"
            yield node.after_retries, f"silence or wrong keys at {node.id}"
            yield flow.main_menu, f"{flow.keys.main_menu} in any menu"
        elif isinstance(node, MessageNode):
            yield node.next, f"silence after {node.id}"
        elif isinstance(node, TransferNode) and node.helpline == EVERY_LINE and isinstance(start, LanguageNode):
            yield start.next, f"language key at {node.id}"

    while todo:
        for target, how in edges(flow.nodes[todo.popleft()]):
            if target in flow.nodes and target not in found:
                found[target] = how
                todo.append(target)
    return list(found.items())


def labelled_prompts(node: Node) -> Iterator[tuple[str, Prompt]]:
    """Every prompt of ``node``, re-prompts included, in the order a caller hears them, each with what it is for."""
    if isinstance(node, LanguageNode | MenuNode):
        yield "prompt", node.prompt
        if isinstance(node, MenuNode):
            yield "after the prompt, when speech is on", node.speech_prompt
        yield "re-prompt after silence", node.no_input.reprompt
        yield "re-prompt after a wrong key", node.wrong_key.reprompt
        if node.not_understood is not None:
            yield "re-prompt after words that match nothing", node.not_understood
    elif isinstance(node, MessageNode):
        yield "message", node.prompt
        yield "after the message", node.after
    elif isinstance(node, TransferNode):
        yield "before the transfer", node.connecting
        yield "when every target failed, before the number", node.unreachable
        yield "the number to call", node.call_yourself
        yield "after the number", node.after
    else:
        yield "goodbye", node.prompt


def node_prompts(node: Node) -> Iterator[Prompt]:
    """Every prompt of ``node``, re-prompts included, in the order a caller hears them."""
    return (prompt for _, prompt in labelled_prompts(node))


def flow_prompts(flow: Flow) -> Iterator[tuple[str, str, Prompt]]:
    """The prompts of the flow itself, not of one node: (what it is, when it is heard, the prompt)."""
    if flow.text_message is not None:  # where texts are on, to a caller with a mobile number (ivr.texting)
        yield "text_message", "after the line's number and 112: the offer of a text message", flow.text_message.offer
        yield "text_message", "when its key is pressed", flow.text_message.on_its_way
    if flow.crisis is not None:
        yield "crisis", "words of crisis, where speech is on", flow.crisis.prompt
    yield "rescue", "any error, and the Voice Fallback URL", flow.rescue
    yield "rescue", "before the rescue rings the line", flow.rescue_connecting


def script(catalog: Catalog, flow: Flow, lang: str) -> list[ScriptLine]:
    """Everything ``flow`` says in ``lang``, in call order; each text in both wordings where it has two."""
    words_per_second = catalog.settings.languages[lang].words_per_second
    lines_said = list(catalog.helplines.values())
    out: list[ScriptLine] = []

    def line_for(node: str, reached: str, part: str, item: Pause | Speech) -> ScriptLine:
        if isinstance(item, Pause):
            return ScriptLine(node, reached, part, f"(pause {item.seconds} s)", float(item.seconds), ())
        numbers = tuple(
            line.number if line.name == line.number else f"{line.name} {line.number}"
            for line in lines_said
            if says_number(item.text, line.spoken_number)
        )
        return ScriptLine(node, reached, part, item.text, round(word_count(item.text) / words_per_second, 1), numbers, item)

    def add(node: str, reached: str, part: str, prompt: Prompt) -> None:
        # Items the same in both wordings once; an item with two wordings as two lines, one after the other.
        connect = {item.key: item for item in prompt.parts(lang, CONNECTS) if isinstance(item, Speech)}
        for item in prompt.parts(lang, SAYS_NUMBER):
            if isinstance(item, Speech) and item.key.endswith("." + SAYS_NUMBER):
                out.append(line_for(node, reached, f"{part} ({WORDINGS[SAYS_NUMBER]})", item))
                other = connect.get(item.key.removesuffix(SAYS_NUMBER) + CONNECTS)
                if other is not None:
                    out.append(line_for(node, reached, f"{part} ({WORDINGS[CONNECTS]})", other))
            else:
                out.append(line_for(node, reached, part, item))

    for node_id, reached in _routes(flow):
        for part, prompt in labelled_prompts(flow.nodes[node_id]):
            add(node_id, reached, part, prompt)
    for node_id, reached, prompt in flow_prompts(flow):
        add(node_id, reached, node_id, prompt)
    return out


def _audio_cells(row: ScriptLine, audio: AudioColumns | None) -> tuple[str, ...]:
    if audio is None:
        return ()
    return audio(row.speech) if row.speech is not None else ("", "")


def to_markdown(catalog: Catalog, flow: Flow, audio: AudioColumns | None = None) -> str:
    """The script as Markdown; with ``audio``, each text's recording id and whether it is recorded."""
    out = [f"# What callers hear: {flow.file}", ""]
    out.append(
        "Every prompt per language, in the order a caller meets it, as `ivr prompts` prints it from the loaded "
        "flow. Seconds are estimates from the language's words per second. Check each language with a native "
        "speaker before each release."
    )
    extra = " recording id | audio |" if audio is not None else ""
    for lang in catalog.settings.offered:
        settings = catalog.settings.languages[lang]
        line = catalog.line_for(lang)
        cells: tuple[str, ...]
        out += ["", f"## {settings.name} ({lang}): {line.name} {line.number}", ""]
        out += ["| node | how the caller gets here | text | what is said | s | numbers said |" + extra]
        out += ["|---|---|---|---|---|---|" + ("---|---|" if audio is not None else "")]
        for row in script(catalog, flow, lang):
            cells = (row.node, row.reached, row.part, row.text, f"{row.seconds:.1f}", ", ".join(row.numbers))
            cells += _audio_cells(row, audio)
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(out) + "\n"


def to_html(catalog: Catalog, flow: Flow, audio: AudioColumns | None = None) -> str:
    esc = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>What callers hear: {esc(flow.file)}</title>",
        "<style>body{font:11pt/1.4 sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #999;padding:4px;vertical-align:top;text-align:left}"
        "td.said{font-size:12pt}section{page-break-before:always}section:first-of-type{page-break-before:auto}"
        "th{background:#eee}</style></head><body>",
        f"<h1>What callers hear: {esc(flow.file)}</h1>",
        "<p>Every prompt per language, in the order a caller meets it. Seconds are estimates. "
        "Mark anything that does not sound like your language, is unclear, or is not true.</p>",
    ]
    for lang in catalog.settings.offered:
        settings = catalog.settings.languages[lang]
        line = catalog.line_for(lang)
        out.append(
            f'<section lang="{esc(lang)}"><h2>{esc(settings.name)} ({esc(lang)}): {esc(line.name)} {esc(line.number)}</h2>'
        )
        out.append("<table><tr><th>node</th><th>how the caller gets here</th><th>text</th><th>what is said</th>")
        out.append("<th>s</th><th>numbers said</th>" + ("<th>recording id</th><th>audio</th>" if audio else "") + "</tr>")
        for row in script(catalog, flow, lang):
            more = "".join(f"<td>{esc(cell)}</td>" for cell in _audio_cells(row, audio))
            out.append(
                f"<tr><td>{esc(row.node)}</td><td>{esc(row.reached)}</td><td>{esc(row.part)}</td>"
                f'<td class="said">{esc(row.text)}</td><td>{row.seconds:.1f}</td>'
                f"<td>{esc(', '.join(row.numbers))}</td>{more}</tr>"
            )
        out.append("</table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
