"""The strict YAML reader keeps text as written and flags YAML 1.1 surprises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ivr.yamlio import MAX_DEPTH, MAX_EXPANDED, YMap, YScalar, YSeq, read_yaml
from support import DATA


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


def test_anchors_and_aliases_still_repeat_a_value(tmp_path: Path) -> None:
    root, problems = read(tmp_path, "a: &say {nl: Hallo, fr: Bonjour}\nb: [*say, *say]\n")
    assert problems == []
    assert isinstance(root, YMap)
    b = root.get("b")
    assert isinstance(b, YSeq) and len(b.items) == 2
    assert all(isinstance(item, YMap) and item.keys() == ["nl", "fr"] for item in b.items)


def test_a_recursive_anchor_is_a_located_error(tmp_path: Path) -> None:
    root, (problem,) = read(tmp_path, "ok: 1\nloop: &a {next: [x, *a]}\n")
    assert root is None
    assert (problem.mark.line, problem.mark.column) == (2, 21)
    assert "alias *a is inside the value it names (&a, line 2)" in problem.message
    assert "write this value out" in problem.hint


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[" * 5000 + "]" * 5000, (1, MAX_DEPTH + 1)),
        ("".join(" " * i + "a:\n" for i in range(5000)), (MAX_DEPTH + 1, MAX_DEPTH + 1)),
        ("- " * 5000 + "x\n", (1, 2 * MAX_DEPTH + 1)),
    ],
    ids=["flow", "block mapping", "block sequence"],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(tmp_path: Path, text: str, where: tuple[int, int]) -> None:
    started = time.perf_counter()
    root, (problem,) = read(tmp_path, text)
    assert time.perf_counter() - started < 2
    assert root is None
    assert problem.message == f"nested more than {MAX_DEPTH} levels deep"
    assert (problem.mark.line, problem.mark.column) == where  # the collection one level too deep
    assert problem.hint


def test_an_alias_bomb_is_refused_at_once_where_it_grows() -> None:
    bomb = DATA / "broken" / "alias_bomb.yaml"
    assert len(bomb.read_bytes()) < 600
    started = time.perf_counter()
    root, (problem,) = read_yaml(bomb)
    assert time.perf_counter() - started < 0.5
    assert root is None
    assert (problem.mark.line, problem.mark.column) == (7, 45)  # the alias that crosses the bound
    assert f"grows past {MAX_EXPANDED:,} values and characters" in problem.message


def test_many_aliases_of_a_long_text_are_bounded_too(tmp_path: Path) -> None:
    text = "t: &t " + "x" * 20_000 + "\nmany: [" + ", ".join(["*t"] * 100) + "]\n"
    root, (problem,) = read(tmp_path, text)
    assert root is None and problem.mark.line == 2
