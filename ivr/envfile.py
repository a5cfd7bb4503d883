"""The service's environment file (systemd's ``EnvironmentFile=``: ``VAR=value`` lines), read for ``--env-file``.

python-dotenv parses it (the one place it is imported). The two syntaxes agree on ``#`` comments, blank lines,
spaces around ``=``, and single or double quotes; where they differ, a line is refused with how to write it so
that both read the same value, so ``ivr validate --env-file`` never checks other values than the service gets.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from dotenv.parser import parse_stream

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(Exception):
    """The file cannot be read, or has lines systemd and this reader would not read alike; the message lists them."""


def _problem(key: str, raw: str) -> str | None:
    """Why systemd would read this assignment's value differently (None: it reads it alike)."""
    value = raw.split("=", 1)[1].strip() if "=" in raw else ""
    quoted = value[:1] in {"'", '"'}
    if not NAME.fullmatch(key):
        return f"{key!r} is not a variable name: letters, digits and _, not starting with a digit"
    if "=" not in raw:
        return f"{key} has no '=': write {key}=value"
    if not quoted and " #" in value:
        return f"{key}: systemd keeps what follows ' #' in the value; put the value in single quotes"
    if not quoted and value.endswith("\\"):
        return f"{key}: systemd joins a line ending in a backslash to the next; write the value on one line"
    if value[:1] == '"' and "\\" in value:
        return f"{key}: systemd and this reader unescape backslashes in double quotes differently; use single quotes"
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """The variables ``path`` sets, as the service gets them.

    Raises:
        EnvFileError: the file cannot be read, or some lines would be read otherwise by systemd (each named
            by file:line, with a fix).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise EnvFileError(f"{path}: cannot read the environment file ({reason})") from exc
    # systemd also takes ';' for a comment line; python-dotenv only '#'. Same length, so the line numbers stay.
    lines = ["#" + line[1:] if line.lstrip().startswith(";") else line for line in text.splitlines(keepends=True)]
    found: dict[str, str] = {}
    errors = []
    for binding in parse_stream(io.StringIO("".join(lines))):
        where = f"{path}:{binding.original.line}"
        raw = binding.original.string.strip()
        if binding.error:
            errors.append(f"{where}: not a VAR=value line (its text is not shown: it may hold a secret)")
        elif binding.key is None:  # a blank line or a comment
            continue
        elif (problem := _problem(binding.key, raw.removeprefix("export ").lstrip())) is not None:
            errors.append(f"{where}: {problem}")
        elif raw.startswith("export "):
            errors.append(f"{where}: systemd does not take 'export': write {binding.key}=… alone")
        else:
            found[binding.key] = binding.value or ""
    if errors:
        raise EnvFileError("\n".join(errors))
    return found


def load_env_file(path: Path) -> dict[str, str]:
    """Set the variables of ``path`` in this process's environment, over any of the same name (as systemd's file
    is over the unit's ``Environment=``); returns them.

    Raises:
        EnvFileError: as :func:`read_env_file`; nothing is set then.
    """
    found = read_env_file(path)
    os.environ.update(found)
    return found
