"""Call state in URLs: sorted, safe characters, and untrusted on the way back."""

from __future__ import annotations

import re

from ivr.state import State, read_state


def test_query_is_sorted_and_safe() -> None:
    query = State("helpline", "main_menu", "fr", 1, 2, 0).to_query()
    assert [k for k, _ in query] == sorted(k for k, _ in query)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", v) for _, v in query)


def test_round_trip() -> None:
    state = State("helpline", "main", "nl", 2, 1, 1)
    claimed = read_state(dict(state.to_query()))
    assert (claimed.flow, claimed.node, claimed.lang, claimed.no_input, claimed.wrong_key, claimed.target) == (
        "helpline",
        "main",
        "nl",
        2,
        1,
        1,
    )


def test_bad_values_are_dropped_not_raised() -> None:
    claimed = read_state({"node": "../x", "lang": "n l", "ni": "-1", "wk": "1e9", "t": "１"})
    assert (claimed.node, claimed.lang, claimed.no_input, claimed.wrong_key, claimed.target) == (None, None, 0, 0, 0)
