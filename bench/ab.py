"""A/B benchmark: the app as two commits have it, side by side, each against the idiomatic peer.

    python bench/ab.py --name NAME --b REF [--a HEAD] [--rounds 10] [--duration 4] [--why TEXT]

What `make bench` measures for one tree (bench/load.py), for two at once: each commit's files are
exported (``git archive``) to a folder of their own and served with the Procfile's ``web:`` line
from there, statistics on (SQLite, a database each), beside the peer (bench/peer.py). wrk replays
the same signed journeys (recorded against A) to each of the three, in rounds; the order within a
round turns through all six orders of the three servers, so that neither commit is favoured by
where it falls. Each round gives A's and B's requests per second over the peer's of that round;
the medians are compared.

Used to weigh a cache: B is the commit without it. A cache stays only when removing it lowers the
median ratio by 0.03 or more (``KEEP_IF_REMOVAL_COSTS``). The result, with the diff from A to B,
is added to bench/results/ab.json under NAME (replacing an earlier one of that name).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402 - after the path set-up
    APP_FACTORY,
    PEER_FACTORY,
    PUBLIC,
    REPLAY_RATE,
    WARM_UP,
    Run,
    Server,
    free_port,
    loopback,
    machine,
    procfile_web,
    record,
    replay,
    replay_data,
    start,
)

KEEP_IF_REMOVAL_COSTS = 0.03  # issue "A codebase to live in, part two", item 6
OUT = ROOT / "bench" / "results" / "ab.json"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def export(ref: str, folder: Path) -> Path:
    """The files of commit ``ref`` in ``folder``, as a fresh clone would have them."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure(commits: dict[str, str], rounds: int, duration: int, callers: int, workers: int) -> list[Run]:
    """wrk's runs against the peer and the app at each of ``commits`` (name -> commit), round after round."""
    token = secrets.token_hex(16)
    bin_dir = str(Path(sys.executable).parent)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "PYTHON"))}
    base_env |= {"PATH": bin_dir + os.pathsep + base_env.get("PATH", ""), "WEB_CONCURRENCY": str(workers)}
    base_env.pop("DATABASE_URL", None)
    web = loopback(procfile_web())
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="ivr-ab-") as temp:
        folder = Path(temp)
        servers: dict[str, Server] = {}
        try:
            for name in ("peer", *commits):
                tree = ROOT if name == "peer" else export(commits[name], folder / name)
                port = free_port()
                env = base_env | {"PORT": str(port), "TWILIO_AUTH_TOKEN": token, "IVR_PUBLIC_URL": PUBLIC}
                env |= {"IVR_LOG_KEY": secrets.token_hex(16), "PYTHONPATH": str(tree)}
                factory = PEER_FACTORY if name == "peer" else APP_FACTORY
                if name != "peer":
                    env["IVR_STATS_DB"] = str(folder / f"{name}.sqlite3")
                    migrate = [sys.executable, "-m", "ivr", "stats", "migrate"]
                    subprocess.run(migrate, cwd=tree, env=env, check=True, capture_output=True)
                servers[name] = start(name, web.replace(APP_FACTORY, factory), env, port, "/", folder, cwd=tree)
            needed = int(rounds * (WARM_UP + duration) * REPLAY_RATE)
            first = servers[next(iter(commits))].port
            recording = replay_data(record(first, token), first, token, folder, needed)
            # The order within a round turns through every order of the three servers, all six.
            orders = list(itertools.permutations(servers))
            for round_number in range(rounds):
                order = orders[round_number % len(orders)]
                for name in order:
                    runs.append(replay(name, servers[name].port, recording, callers, duration))
                this = {r.server: r.rps for r in runs[-len(order) :]}
                print(
                    f"round {round_number + 1}: peer {this['peer']:.0f}/s, "
                    + ", ".join(f"{n} {this[n] / this['peer']:.3f}" for n in commits),
                    flush=True,
                )
        finally:
            for server in servers.values():
                server.stop()
    return runs


def vs_peer(runs: list[Run], name: str) -> list[float]:
    """``name``'s requests per second over the peer's, round by round."""
    peers = [r.rps for r in runs if r.server == "peer"]
    return [round(r.rps / p, 3) for r, p in zip((r for r in runs if r.server == name), peers, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="what B changes, as the result is filed (e.g. render-cache)")
    parser.add_argument("--a", default="HEAD", help="commit A (default HEAD)")
    parser.add_argument("--b", required=True, help="commit B")
    parser.add_argument("--why", default="", help="what the cache is for, in a sentence, kept with the result")
    parser.add_argument("--rounds", type=int, default=10, help="rounds over the three servers (default 10)")
    parser.add_argument("--duration", type=int, default=4, help="whole seconds of load per run (default 4)")
    parser.add_argument("--callers", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")), help="WEB_CONCURRENCY")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    commits = {"a": git("rev-parse", args.a).strip(), "b": git("rev-parse", args.b).strip()}
    diff = git("diff", commits["a"], commits["b"], "--", "ivr")
    runs = measure(commits, args.rounds, args.duration, args.callers, args.workers)
    a_vs_peer, b_vs_peer = vs_peer(runs, "a"), vs_peer(runs, "b")
    errors = sum(r.errors for r in runs)
    cost = round(statistics.median(a_vs_peer) - statistics.median(b_vs_peer), 3)
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "why": args.why,
        "a": commits["a"],
        "b": commits["b"],
        "rounds": args.rounds,
        "duration_s": args.duration,
        "callers": args.callers,
        "workers": args.workers,
        "a_vs_peer": a_vs_peer,
        "b_vs_peer": b_vs_peer,
        "median_a_vs_peer": round(statistics.median(a_vs_peer), 3),
        "median_b_vs_peer": round(statistics.median(b_vs_peer), 3),
        "b_costs": cost,
        "errors": errors,
        "verdict": "keep A" if cost >= KEEP_IF_REMOVAL_COSTS else "take B",
        "diff": diff,
    }
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    results[args.name] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"median ratio to the peer: A {result['median_a_vs_peer']}, B {result['median_b_vs_peer']}; B costs {cost}")
    print(f"{result['verdict']} (errors: {errors}); written to {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
