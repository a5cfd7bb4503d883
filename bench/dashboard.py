"""Dashboard benchmark: what operators loading "a year" on /admin cost signed calls, on the Procfile's own process.

    python bench/dashboard.py [--rounds 3] [--dashboards 8] [--days 3660]

Makes a year of statistics (``bench/year_of_stats.py``: 364k turn rows, 94k call rows) in a new SQLite
database, starts the Procfile's ``web:`` line on it (bound to 127.0.0.1, two workers) and, in each round,
times signed calls one after another while ``--dashboards`` dashboards of ``?days=--days`` load at once
(ten years asked; the service reads at most the days it keeps). Target: every signed call answered within
Twilio's 15 s and every dashboard served. Prints the figures, writes bench/results/dashboard.json (the calls'
p50, p99 and slowest, and the dashboards' times), exits 1 when the target is missed. Stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port, loopback, procfile_web, start  # noqa: E402 - after the path set-up
from bench.year_of_stats import fill  # noqa: E402
from ivr.security import sign  # noqa: E402

TWILIO_TIMEOUT = 15.0
CALL = {
    "CallSid": "CA" + "0" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+32470000000",
    "To": "+3225550100",
    "CallStatus": "in-progress",
    "Direction": "inbound",
}


def signed_call(base: str, token: str) -> float:
    """Seconds until a signed call's answer; TWILIO_TIMEOUT when there was none in that time."""
    request = urllib.request.Request(
        base + "/voice", data=urlencode(CALL).encode(), headers={"X-Twilio-Signature": sign(token, base + "/voice", CALL)}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TWILIO_TIMEOUT) as response:
            if response.status != 200 or b"<Gather" not in response.read():
                return TWILIO_TIMEOUT
    except OSError:  # no answer in time, or none at all
        return TWILIO_TIMEOUT
    return time.monotonic() - started


def dashboards(base: str, password: str, count: int, days: int) -> list[tuple[int, float]]:
    """``count`` dashboards loaded at once: (status, seconds) of each, while they run."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}
    pages: list[tuple[int, float]] = []

    def one() -> None:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{base}/admin?days={days}", headers=auth), timeout=300) as page:
                page.read()
                pages.append((page.status, round(time.monotonic() - started, 2)))
        except urllib.error.HTTPError as failed:
            pages.append((failed.code, round(time.monotonic() - started, 2)))
        except OSError:
            pages.append((0, round(time.monotonic() - started, 2)))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pages


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dashboards", type=int, default=8)
    parser.add_argument("--days", type=int, default=3660)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dashboard.json")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ivr-dashboard-"))
    database = folder / "year.sqlite3"
    started = time.monotonic()
    rows = fill(f"sqlite:///{database}")
    print(f"a year of statistics: {rows} in {time.monotonic() - started:.1f} s", flush=True)

    token, password, port = secrets.token_hex(16), secrets.token_hex(16), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_")) and k != "DATABASE_URL"}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token, "IVR_ADMIN_PASSWORD": password}
    env |= {"IVR_STATS_DB": str(database), "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")}
    command = loopback(procfile_web())
    print(f"Procfile web line (bound to 127.0.0.1): {command}", flush=True)
    server = start("dashboard", command, env, port, "/healthz", folder)
    rounds: list[dict[str, object]] = []

    def load(pages: list[tuple[int, float]]) -> None:
        pages.extend(dashboards(base, password, args.dashboards, args.days))

    try:
        signed_call(base, token)  # warm up
        for number in range(args.rounds):
            pages: list[tuple[int, float]] = []
            loader = threading.Thread(target=load, args=(pages,))
            loader.start()
            calls: list[float] = []
            while loader.is_alive():
                calls.append(signed_call(base, token))
                time.sleep(0.05)
            loader.join()
            calls.sort()
            figures: dict[str, object] = {
                "calls": len(calls),
                "p50_ms": round(statistics.median(calls) * 1000, 1),
                "p99_ms": round(percentile(calls, 0.99) * 1000, 1),
                "slowest_ms": round(calls[-1] * 1000, 1),
                "unanswered_within_15_s": sum(1 for c in calls if c >= TWILIO_TIMEOUT),
                "dashboards": sorted(pages),
            }
            rounds.append(figures)
            print(f"round {number + 1}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    finally:
        server.stop()

    worst_p99 = max(float(str(r["p99_ms"])) for r in rounds)
    slowest = max(float(str(r["slowest_ms"])) for r in rounds)
    served = all(status == 200 for r in rounds for status, _ in r["dashboards"])  # type: ignore[attr-defined]
    ok = slowest < TWILIO_TIMEOUT * 1000 and served
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "procfile_web": command,
        "statistics_rows": rows,
        "dashboards_at_once": args.dashboards,
        "days_asked": args.days,
        "rounds": rounds,
        "calls_p99_ms_worst_round": worst_p99,
        "calls_slowest_ms": slowest,
        "target": "every signed call answered within 15 s, every dashboard served",
        "met": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\n{args.dashboards} dashboards of a year at once: signed calls' p99 {worst_p99:.0f} ms, slowest {slowest:.0f} ms")
    print(f"  {'PASS' if ok else 'FAIL'}  every signed call answered within 15 s, every dashboard served")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
