"""The caller checker's findings as located errors (the loader refuses them) and as ``ivr validate`` prints them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.checker.budgets import BUDGET_NAMES, UNREACHED_BUDGET, Checker, Unreached, Worst, worst_per_budget
from ivr.checker.paths import UNCHOSEN
from ivr.errors import ConfigError
from ivr.loading.flow_marks import FlowMarks
from ivr.model import Catalog, Flow
from ivr.timing import DurationOf
from ivr.yamlio import Mark

# What each budget holds a call to, and what to change when a path goes over it.
MEANING = {
    "time_to_human": ("hear how to reach a person", "say {key:talk_now} or {number:line} sooner in the first menu"),
    "talk_now": ("reach the line after the talk-now key", "connect sooner, or say {number:line} sooner in the talk-now transfer"),
    "silent_after_language": (
        "hear their line's number and 112",
        "say {number:line} and {number:emergency} before the options of the first menu",
    ),
    "any_behaviour": (
        "hear a line they understand and 112",
        "shorten re-prompts and retries on the way, and say the number and 112 before anything else",
    ),
    "wrong_language": (
        "hear the way to a person in their own language",
        "let the welcome's language keys choose a language in every menu too (language_keys_everywhere: true),"
        " and keep the options off those keys",
    ),
}


@dataclass(frozen=True, slots=True)
class Findings:
    """Everything the checker found for one catalog."""

    worst: dict[tuple[str, str], Worst]
    unreached: tuple[Unreached, ...]

    @property
    def over(self) -> list[Worst]:
        return [w for w in self.worst.values() if not w.within]


# The last catalog checked and its findings: `ivr validate` loads the catalog (which checks it), then prints
# the same findings; walking every call twice doubled its time.
_last: list[tuple[Catalog, DurationOf | None, Findings]] = []


def check(catalog: Catalog, duration_of: DurationOf | None = None) -> Findings:
    """Walk every budget of every configuration of ``catalog``."""
    if _last and _last[0][0] is catalog and _last[0][1] is duration_of:
        return _last[0][2]
    worst, unreached = Checker(catalog, duration_of).run()
    failed = {(u.node, u.lang): u for u in unreached if not u.within}
    findings = Findings(worst_per_budget(worst), tuple(failed.values()))
    _last[:] = [(catalog, duration_of, findings)]
    return findings


def language_name(catalog: Catalog, context: str) -> str:
    if context.startswith(UNCHOSEN):
        lang = context.removeprefix(UNCHOSEN)
        return f"{catalog.settings.languages[lang].name} ({lang}), who chose no language"
    return f"{catalog.settings.languages[context].name} ({context})"


def shown(w: Worst) -> str:
    """``en: 7, 7, 7, silence → 71.7 s``; ``en, no language chosen: …`` for a caller who chose none."""
    inputs = ", ".join(w.path.inputs) or "nothing"
    seconds = "never" if w.seconds == float("inf") else f"{w.seconds:.1f} s"
    why = f" ({w.path.why})" if w.path.why and w.seconds == float("inf") else ""
    who = f"{w.lang.removeprefix(UNCHOSEN)}, no language chosen" if w.lang.startswith(UNCHOSEN) else w.lang
    return f"{who}: {inputs} → {seconds}{why}"


def _where(flow: Flow, node_id: str, marks: Mapping[str, FlowMarks]) -> Mark:
    """Where the node is written; the top of the file for a path that ends at no node, or for a catalog whose
    marks were not kept (``ivr audio import`` checks one already loaded)."""
    kept = marks.get(flow.name)
    return kept.node(node_id) if kept is not None and node_id else Mark(flow.file, 1, 1)


def errors(catalog: Catalog, findings: Findings, marks: Mapping[str, FlowMarks]) -> list[ConfigError]:
    """Each path over its budget, and each transfer whose failure is not told, as a located error."""
    found: list[ConfigError] = []
    for w in findings.over:
        flow = catalog.flows[w.setup.flow]
        mark = _where(flow, w.path.end, marks)
        what, fix = MEANING[w.budget]
        who = language_name(catalog, w.lang)
        when = "never" if w.seconds == float("inf") else f"only after {w.seconds:.1f} s"
        message = (
            f"{w.budget}: callers ({who}) who press {', '.join(w.path.inputs) or 'nothing'} {what} {when}"
            f" (budget {w.limit:g} s{'; ' + w.path.why if w.path.why else ''}), {w.setup.label}"
        )
        found.append(ConfigError(mark, f"nodes.{w.path.end}" if w.path.end else f"budgets.{w.budget}", message, fix))
    for u in findings.unreached:
        flow = catalog.flows[u.setup.flow]
        mark = _where(flow, u.node, marks)
        if not u.says_so:
            message = f"after every transfer target failed, {u.lang} callers are not told that nobody could be reached"
            fix = "add 'unreachable:' to this node: a short sentence, said before the number"
        else:
            message = f"after every transfer target failed, {u.lang} callers hear the number after {u.seconds:.1f} s"
            fix = f"keep 'unreachable:' and what comes before the number under {UNREACHED_BUDGET:g} s"
        found.append(ConfigError(mark, f"nodes.{u.node}", f"{message} ({u.setup.label})", fix))
    return found


def format_findings(catalog: Catalog, findings: Findings, *, measured: bool = False) -> str:
    """Per budget and language, the worst path and its time, as ``ivr validate`` prints them."""
    how = (
        "built audio where there is some, else estimated from words per second" if measured else "estimated from words per second"
    )
    lines = [f"Caller checker: the worst path per budget and language, in seconds from the call's first second ({how}):"]
    budgets = catalog.settings.budgets
    for name in BUDGET_NAMES:
        rows = sorted((w for (b, _), w in findings.worst.items() if b == name), key=lambda w: _order(catalog, w.lang))
        if not rows:
            continue
        limit = getattr(budgets, name)
        since = ", from the language key" if name == "talk_now" else ""
        lines.append(f"  {name} ({limit:g} s{since}):")
        for w in rows:
            flag = "" if w.within else "   OVER BUDGET"
            lines.append(f"    {shown(w)}{flag}   [{w.setup.label}]")
    said = [lang for lang, ls in catalog.settings.languages.items() if ls.said and lang in catalog.settings.offered]
    if measured and said:
        lines.append(f"  {', '.join(said)}: estimated (spoken with <Say>, which has no audio to measure)")
    return "\n".join(lines)


def _order(catalog: Catalog, context: str) -> tuple[int, int]:
    offered = catalog.settings.offered
    lang = context.removeprefix(UNCHOSEN)
    return (0 if context.startswith(UNCHOSEN) else 1, offered.index(lang) if lang in offered else -1)
