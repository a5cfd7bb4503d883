"""Turn the YAML files into the frozen model, or into a list of located errors.

This is the only place that reads configuration documents. It checks everything at
once (settings, helplines, every flow, the graph of every flow) and raises a single
:class:`ConfigErrors` listing every problem with ``file:line:column``, the path inside
the document, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

from ivr.checker import check_calls
from ivr.errors import ConfigError, ConfigErrors
from ivr.loading.document import (
    E164,
    did_you_mean,
    display,
)
from ivr.loading.flow_file import parse_flow
from ivr.loading.flow_marks import FlowMarks
from ivr.loading.helplines_file import parse_helplines
from ivr.loading.settings_file import parse_settings
from ivr.model import (
    Catalog,
    Flow,
    frozen_map,
)
from ivr.settings import default_config_dir, default_flows_dir
from ivr.timing import DurationOf
from ivr.voices import SpeechEngines
from ivr.yamlio import Mark

__all__ = ["E164", "default_config_dir", "default_flows_dir", "load_catalog"]


def load_catalog(
    config_dir: Path | None = None,
    flows_dir: Path | None = None,
    duration_of: DurationOf | None = None,
    engines: SpeechEngines | None = None,
) -> Catalog:
    """Load and check settings, helplines and every flow, including the timing of every served call.

    ``duration_of`` gives the real length of a prompt's audio when known (else words per second are used).

    Raises:
        ConfigErrors: listing every problem found, each with file, line and a fix.
    """
    config_dir = config_dir or default_config_dir()
    flows_dir = flows_dir or default_flows_dir()
    errors: list[ConfigError] = []
    settings_path = config_dir / "settings.yaml"
    helplines_path = config_dir / "helplines.yaml"
    settings, settings_marks = parse_settings(settings_path, errors, engines)
    helplines = parse_helplines(
        helplines_path,
        errors,
        settings.languages if settings else None,
        settings_marks,
        settings.called_numbers if settings else (),
    )
    flow_files = sorted(flows_dir.glob("*.yaml"))
    if not flow_files:
        errors.append(
            ConfigError(
                Mark(display(flows_dir), 1, 1), "", "no *.yaml call flow in this folder", "add a flow file or set IVR_FLOWS"
            )
        )
    flows: dict[str, Flow] = {}
    flow_marks: dict[str, FlowMarks] = {}
    if settings is not None and helplines is not None:
        for index, (name, mark) in enumerate(zip(settings.welcome_names, settings_marks.welcome_names, strict=True)):
            if name not in helplines:
                where = f"welcome_names[{index}]"
                errors.append(ConfigError(mark, where, f"unknown helpline {name!r}", did_you_mean(name, list(helplines))))
        dialling = [line_id for line_id, line in helplines.items() if line.transfer_to]
        if dialling and not settings.called_numbers:
            # Without a number of ours, <Dial> shows the line the caller's own number.
            errors.append(
                ConfigError(
                    settings_marks.called_numbers,
                    "called_numbers",
                    f"{', '.join(dialling)} in helplines.yaml transfer calls, but no number of ours is listed to show"
                    " the line as caller ID (the line would see the caller's own number)",
                    'add this service\'s Twilio number, e.g. called_numbers: {"+3225550100": {default_language: nl}}',
                )
            )
        for path in flow_files:
            flow, flow_marks[path.stem] = parse_flow(path, errors, settings, helplines)
            if flow is not None:
                flows[flow.name] = flow
        wanted = [("flow", settings_marks.flow, settings.default_flow)] + [
            (f"called_numbers.{n}.flow", settings_marks.called_flow(n), c.flow) for n, c in settings.called_numbers.items()
        ]
        for where, mark, name in wanted:
            if name not in flows and not errors:
                errors.append(
                    ConfigError(mark, where, f"no flow named {name!r} in {display(flows_dir)}", did_you_mean(name, list(flows)))
                )
    if errors or settings is None or helplines is None:
        raise ConfigErrors(errors)
    catalog = Catalog(
        settings=settings,
        helplines=frozen_map(helplines),
        flows=frozen_map(flows),
    )
    # Only a complete catalog can be walked call by call: time to a human, silence, the welcome.
    errors.extend(check_calls(catalog, flow_marks, duration_of))
    if errors:
        raise ConfigErrors(errors)
    return catalog
