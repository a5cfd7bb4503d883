"""Configuration errors that say where, what, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ivr.yamlio import Mark


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem in a flow or config file."""

    mark: Mark
    path: str  # where inside the document, e.g. nodes.main.options."1"
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.mark.file}:{self.mark.line}:{self.mark.column}"
        text = f"{where}: {self.path or '(document)'}: {self.message}"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


class ConfigErrors(RuntimeError):
    """Every problem found while loading; raised once, after everything was checked (a RuntimeError, as SettingsError)."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda error: (error.mark.file, error.mark.line, error.mark.column)))
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.errors)
        lines = [str(error) for error in self.errors]
        lines.append(f"{n} error{'s' if n != 1 else ''} found; the service will not start until they are fixed.")
        return "\n".join(lines)
