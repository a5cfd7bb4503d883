"""The statistics writer on SQLite, as deployed: what a batch costs a turn, what a sum-up costs a call, and what the
TRUNCATE checkpoint after each sum-up adds (it empties the write-ahead log so that the rows a sum-up deleted are not
left readable in it).

    python bench/checkpoint.py [--rounds 30] [--calls 200] [--out bench/results/checkpoint.json] [--label TEXT]

Each round writes two batches of 900 turns from ``--calls`` calls in progress (as under load), their ends, then sums
the calls up (ivr.stats.store.finish_calls) and checkpoints (store.checkpoint), each timed apart, in one process with
the store alone (no server). Prints the medians and writes the JSON file, with the machine's load average: on a shared,
busy machine the figures vary; compare figures taken together only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.stats import store  # noqa: E402 - after the path, so that the checkout's code is measured
from ivr.stats.batch import Batch  # noqa: E402
from ivr.stats.events import CallEnd, TurnEvent, TurnFacts  # noqa: E402

START = 1_800_000_000.0
TURNS_PER_BATCH = 900
NODES = ("welcome", "first_menu", "main", "breathing", "listening_line")


def batch_of(round_: int, part: int, calls: int) -> Batch:
    batch = Batch()
    at = START + round_ * 10_000 + part * 100
    for n in range(TURNS_PER_BATCH):
        call, step = n % calls, n // calls + part * (TURNS_PER_BATCH // calls + 1)
        node = NODES[min(step, len(NODES) - 1)]
        facts = TurnFacts(8.0, 3.5 if node == "listening_line" else None, None, 0)
        outcome = "start" if step == 0 else "option"
        batch.add_turn(
            TurnEvent(at + step, f"r{round_}c{call:05d}", "helpline", node, "-" if step == 0 else "nl", outcome, facts)
        )
    return batch


def one_round(engine: store.Engine, round_: int, calls: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for part in (0, 1):
        with engine.begin() as conn:
            store.write_batch(conn, batch_of(round_, part, calls))
    timings["write_us_per_turn"] = (time.perf_counter() - started) / (2 * TURNS_PER_BATCH) * 1e6
    ends = Batch()
    for call in range(calls):
        ends.add_end(CallEnd(START + round_ * 10_000 + 300, f"r{round_}c{call:05d}", "completed", "1-2m"))
    with engine.begin() as conn:
        store.write_batch(conn, ends)
    now = START + round_ * 10_000 + 300 + store.END_GRACE_SECONDS + 1
    started = time.perf_counter()
    with engine.begin() as conn:
        finished = store.finish_calls(conn, now)
    summed = time.perf_counter() - started
    assert finished == calls, (finished, calls)
    wal = Path(str(engine.url.database) + "-wal")
    timings["wal_bytes_before_checkpoint"] = wal.stat().st_size if wal.exists() else 0
    started = time.perf_counter()
    assert store.checkpoint(engine)
    checkpointed = time.perf_counter() - started
    timings["sum_up_ms"] = summed * 1e3
    timings["sum_up_us_per_call"] = summed / calls * 1e6
    timings["checkpoint_ms"] = checkpointed * 1e3
    timings["checkpoint_us_per_call"] = checkpointed / calls * 1e6
    timings["checkpoint_share_of_sum_up"] = checkpointed / (summed + checkpointed)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "checkpoint.json")
    parser.add_argument("--label", default="", help="what was measured (a revision, a variant), kept in the file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'stats.sqlite3'}"
        store.migrate(url)
        engine = store.make_engine(url)
        load_before = os.getloadavg()
        rounds = [one_round(engine, n, args.calls) for n in range(args.rounds)]
        load_after = os.getloadavg()
        engine.dispose()
    medians = {name: round(statistics.median(r[name] for r in rounds), 3) for name in rounds[0]}
    p90 = {name: round(sorted(r[name] for r in rounds)[int(0.9 * (len(rounds) - 1))], 3) for name in rounds[0]}
    result = {
        "what": "SQLite statistics writer alone: two batches of 900 turns, then a sum-up of every call and a TRUNCATE checkpoint",
        "label": args.label,
        "schema": store.HEAD,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_after": load_after,
        },
        "rounds": args.rounds,
        "calls_per_sum_up": args.calls,
        "median": medians,
        "p90": p90,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, value in medians.items():
        print(f"{name:32} median {value:>12}   p90 {p90[name]:>12}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cpus: a shared machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
