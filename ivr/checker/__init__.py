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
from ivr.model import Catalog
from ivr.timing import DurationOf
from ivr.yamlio import Mark

__all__ = ["Findings", "check", "check_calls", "format_findings"]


def check_calls(
    catalog: Catalog, marks: Mapping[str, FlowMarks] | None = None, duration_of: DurationOf | None = None
) -> list[ConfigError]:
    """Every path over its budget, and every text-message key that means something else too, as located errors
    (the loader refuses the catalog with them)."""
    taken = [
        ConfigError(
            Mark(flow.file, 1, 1), "text_message.key", f"the text-message key is already {used}", "give it a key of its own"
        )
        for flow in catalog.flows.values()
        if (used := flow.text_key_taken()) is not None
    ]
    return taken + errors(catalog, check(catalog, duration_of), marks or {})
