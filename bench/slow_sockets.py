"""Slow and idle sockets beside signed calls (the security review's row 1), on the Procfile's own process.

    python bench/slow_sockets.py [--slow 220] [--idle 1900] [--seconds 30] [--rate 5]

Starts the Procfile's ``web:`` line (bound to 127.0.0.1, two workers), then holds ``--slow`` connections
that send a signed-looking ``POST /voice`` one byte a second (slowloris) and ``--idle`` connections that
send nothing, each opened again as soon as the server closes it, while signed calls arrive at ``--rate``
a second and ``/voice/fallback`` and ``/healthz`` are asked every second. Target: every signed call gets
its 200 within Twilio's 15 s and both probes always answer. Two rounds: the review's (220 slow, 1,900
idle) and the README's small target (20 slow, 200 idle). Writes bench/results/slow-sockets.json; exits 1
when a target is missed. ``bench/connections.py`` is the same idea at 10,000 sockets of three kinds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.connections import Attack, calls_alongside, raise_open_files  # noqa: E402 - after the path set-up
from bench.load import free_port, loopback, machine, procfile_web, start  # noqa: E402

SLOW_REQUEST = (
    "POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    "X-Twilio-Signature: x\r\nContent-Length: 60\r\n\r\n" + "To=%2B3225550100&" * 4
).encode()


class SlowSenders:
    """``sockets`` connections, each sending ``SLOW_REQUEST`` one byte a second, reopened when closed."""

    def __init__(self, host: str, port: int, sockets: int) -> None:
        self.host, self.port, self.sockets = host, port, sockets
        self.sent: dict[socket.socket, int] = {}
        self.opened = self.closed_by_server = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        self.sent[sock] = 0
        self.opened += 1

    def _run(self) -> None:
        for _ in range(self.sockets):
            self._open()
        while not self.stop.is_set():
            for sock in list(self.sent):
                done = self.sent[sock] % len(SLOW_REQUEST)
                try:
                    sock.send(SLOW_REQUEST[done : done + 1])
                    self.sent[sock] += 1
                    closed = True  # anything to read (an answer, or the end) means the server let it go
                    sock.recv(65536, socket.MSG_PEEK)
                except BlockingIOError:
                    closed = False  # still open, nothing said: the server is waiting for the rest
                except OSError:
                    closed = True
                if closed:
                    self.closed_by_server += 1
                    del self.sent[sock]
                    sock.close()
                    self._open()
            self.stop.wait(1.0)
        for sock in self.sent:
            sock.close()

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def one_round(slow: int, idle: int, seconds: float, rate: float) -> dict[str, object]:
    token, port, host = "bench-token", free_port(), "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_URL"))}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="ivr-slow-sockets-") as folder:
        env["IVR_STATS_DB"] = str(Path(folder) / "stats.sqlite3")
        server = start(f"slow-{slow}-idle-{idle}", loopback(procfile_web()), env, port, "/healthz", Path(folder))
        senders = SlowSenders(host, port, slow)
        idlers = Attack(host, port, idle, kinds=("idle",))
        try:
            calls_alongside(host, port, token, rate, 1.0)  # warm up
            senders.start()
            idlers.start()
            outcome = calls_alongside(host, port, token, rate, seconds)
        finally:
            senders.close()
            idlers.close()
            server.stop()
    answered, asked = outcome.answered()
    probes = {path: outcome.answered(path) for path in outcome.probes}
    return {
        "slow_sockets": slow,
        "idle_sockets": idle,
        "seconds": seconds,
        "signed_calls": {"asked": asked, "answered_200_within_15_s": answered},
        "signed_calls_p99_ms": round(outcome.percentile(0.99) * 1000, 1),
        "signed_calls_max_ms": round(outcome.percentile(1.0) * 1000, 1),
        "probes_answered": {path: {"answered": ok, "asked": total} for path, (ok, total) in probes.items()},
        "slow_reopened": senders.closed_by_server,
        "idle_reopened": idlers.closed_by_server,
        "held": answered == asked > 0 and all(ok == total > 0 for ok, total in probes.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=220)
    parser.add_argument("--idle", type=int, default=1900)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=5.0, help="signed calls a second (default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "slow-sockets.json")
    args = parser.parse_args()
    raise_open_files(args.slow + args.idle + 1000)
    rounds = [one_round(args.slow, args.idle, args.seconds, args.rate), one_round(20, 200, args.seconds, args.rate)]
    for line in rounds:
        print(json.dumps(line), flush=True)
    met = all(line["held"] for line in rounds)
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "procfile_web": loopback(procfile_web()),
        "rounds": rounds,
        "met": met,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"  {'PASS' if met else 'FAIL'}  every signed call answered 200 within 15 s beside slow and idle sockets")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
