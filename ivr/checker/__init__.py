"""The caller checker: every call our numbers serve, proven within the budgets from its first second.

:mod:`ivr.checker.paths` walks the paths (every behaviour, or one scripted caller);
:mod:`ivr.checker.budgets` says which walks each budget needs, in each configuration;
:mod:`ivr.checker.report` turns the worst paths into located errors and ``ivr validate``'s table.
Pure: no Flask, no twilio.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.checker.report import Findings, check, errors, format_findings
from ivr.errors import ConfigError
from ivr.loading.flow_marks import FlowMarks
from ivr.model import Catalog, Flow
from ivr.timing import DurationOf
from ivr.yamlio import Mark

__all__ = ["Findings", "check", "check_calls", "format_findings"]


def check_calls(
    catalog: Catalog, marks: Mapping[str, FlowMarks] | None = None, duration_of: DurationOf | None = None
) -> list[ConfigError]:
    """Every path over its budget, and every text-message key that means something else too, as located errors
    (the loader refuses the catalog with them)."""
    marks = marks or {}
    taken = [
        ConfigError(
            _text_key(flow, marks), "text_message.key", f"the text-message key is already {used}", "give it a key of its own"
        )
        for flow in catalog.flows.values()
        if (used := flow.text_key_taken()) is not None
    ]
    return taken + errors(catalog, check(catalog, duration_of), marks)


def _text_key(flow: Flow, marks: Mapping[str, FlowMarks]) -> Mark:
    """Where the flow's text-message key is written; the top of the file for a catalog whose marks were not kept."""
    kept = marks.get(flow.name)
    return kept.text_message_key() if kept is not None else Mark(flow.file, 1, 1)
