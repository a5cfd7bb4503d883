"""The strict YAML reader keeps text as written and flags YAML 1.1 surprises."""

from __future__ import annotations

from pathlib import Path

from ivr.yamlio import YMap, YScalar, read_yaml


def read(tmp_path: Path, text: str) -> tuple[object, list]:
    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")
    return read_yaml(path)


def test_scalars_stay_text_with_their_position(tmp_path: Path) -> None:
    root, problems = read(tmp_path, "a: 010\nb: on\n'c': no\nd: \"1\"\n")
    assert problems == []
    assert isinstance(root, YMap)
    values = {k.text: v for k, v in root.items}
    assert all(isinstance(v, YScalar) for v in values.values())
    assert [values[k].text for k in "abcd"] == ["010", "on", "no", "1"]  # type: ignore[union-attr]
    assert values["a"].implicit_type == "a number"  # type: ignore[union-attr]
    assert values["b"].implicit_type == "a boolean"  # type: ignore[union-attr]
    assert values["d"].implicit_type is None and values["d"].quoted  # type: ignore[union-attr]
    assert (values["b"].mark.line, values["b"].mark.column) == (2, 4)


def test_duplicate_keys_are_problems_not_last_one_wins(tmp_path: Path) -> None:
    root, problems = read(tmp_path, "menu:\n  x: 1\n  x: 2\n")
    (problem,) = problems
    assert problem.message == "duplicate key 'x' (first at line 2)"
    assert (problem.mark.line, problem.path) == (3, "menu.x")
    assert isinstance(root, YMap)


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    _, problems = read(tmp_path, "")
    assert problems[0].message == "the file is empty"
    _, problems = read_yaml(tmp_path / "missing.yaml")
    assert problems[0].message.startswith("cannot read the file")
