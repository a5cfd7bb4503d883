"""Connection exhaustion: sockets held open by anyone, against signed calls, on the Procfile's own process.

    python bench/connections.py [--sockets 10000] [--seconds 60] [--rate 5]

Starts the Procfile's ``web:`` line (bound to 127.0.0.1, two workers) and opens ``--sockets``
connections without credentials, a third of each kind: idle (nothing sent), headers only (a request
whose header block never ends) and a signed-looking request (an ``X-Twilio-Signature`` header and a
body that stops after 3 of its 60,000 bytes). Each is opened again as soon as the server closes it.
Meanwhile signed calls to ``/voice`` arrive at ``--rate`` a second, each on a new connection, and
``/voice/fallback`` and ``/healthz`` are asked every second. Target: every signed call gets its 200
within Twilio's 15 s; the fallback and the health check always answer. Also measured: the memory the
workers take per connection held. Writes bench/results/connections.json; exits 1 when the target is
missed. ``tests/test_connections.py`` runs the same attack at 2,500 sockets on every ``make test``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import selectors
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port, loopback, machine, process_tree, procfile_web, start  # noqa: E402 - after the path set-up
from ivr.security import sign  # noqa: E402

KINDS = ("idle", "headers", "body")
TWILIO_SECONDS = 15.0
FAILURES: list[str] = []  # why a request got no answer, for the report
CALL = {
    "CallSid": "CA" + "0" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+32470000000",
    "To": "+3225550100",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def raise_open_files(wanted: int) -> int:
    """This process's open-file limit raised towards ``wanted`` (up to the hard limit); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def opening(kind: str, host: str, port: int) -> bytes:
    """What a socket of ``kind`` sends once connected (and then nothing more)."""
    start = f"POST /voice HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    if kind == "idle":
        return b""
    if kind == "headers":
        return start.encode()  # no blank line: the headers never end
    return (start + "X-Twilio-Signature: x\r\nContent-Length: 60000\r\n\r\nTo=").encode()


class Attack:
    """``sockets`` connections held open in one thread, each opened again as soon as the server closes it."""

    def __init__(self, host: str, port: int, sockets: int, kinds: tuple[str, ...] = KINDS) -> None:
        self.host, self.port, self.sockets, self.kind_cycle = host, port, sockets, kinds
        self.selector = selectors.DefaultSelector()
        self.kinds: dict[socket.socket, str] = {}
        self.connected: set[socket.socket] = set()
        self.opened = self.closed_by_server = self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _open(self, kind: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((self.host, self.port))  # in progress: writable once connected
        self.kinds[sock] = kind
        self.selector.register(sock, selectors.EVENT_WRITE)
        self.opened += 1

    def _drop(self, sock: socket.socket) -> str:
        self.selector.unregister(sock)
        self.connected.discard(sock)
        sock.close()
        return self.kinds.pop(sock)

    def _run(self) -> None:
        waiting: list[tuple[float, str]] = []  # connections to open again after a failure, and when
        for number in range(self.sockets):
            self._open(self.kind_cycle[number % len(self.kind_cycle)])
        while not self.stop.is_set():
            for key, events in self.selector.select(timeout=0.2):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if events & selectors.EVENT_WRITE and sock not in self.connected:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        self.failed += 1
                        waiting.append((time.monotonic() + 0.5, self._drop(sock)))
                        continue
                    self.connected.add(sock)
                    try:
                        sock.sendall(opening(self.kinds[sock], self.host, self.port))
                    except OSError:
                        pass  # closed already: read below
                    self.selector.modify(sock, selectors.EVENT_READ)
                    continue
                try:
                    sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                # An answer (a 400 or 403) or a close: the server let it go; open another of its kind.
                self.closed_by_server += 1
                self._open(self._drop(sock))
            now = time.monotonic()
            for due, kind in [item for item in waiting if item[0] <= now]:
                waiting.remove((due, kind))
                self._open(kind)
        for sock in list(self.kinds):
            self._drop(sock)


@dataclass
class Outcome:
    """What the signed calls and the probes got during an attack."""

    calls: list[tuple[int, float]] = field(default_factory=list)  # (status or 0, seconds)
    probes: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: {"/voice/fallback": [], "/healthz": []})

    def answered(self, path: str | None = None) -> tuple[int, int]:
        """(answered 200 within 15 s, asked) for the signed calls, or for a probe's ``path``."""
        results = self.calls if path is None else self.probes[path]
        return sum(1 for status, took in results if status == 200 and took < TWILIO_SECONDS), len(results)

    def percentile(self, q: float) -> float:
        ordered = sorted(took for _, took in self.calls)
        return ordered[max(0, int(len(ordered) * q) - 1)] if ordered else 0.0


def ask(
    host: str, port: int, method: str, path: str, body: bytes, headers: dict[str, str], into: list[tuple[int, float]]
) -> None:
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection(host, port, timeout=TWILIO_SECONDS)
        connection.request(method, path, body or None, headers | {"Connection": "close"})
        answer = connection.getresponse()
        answer.read()
        connection.close()
        into.append((answer.status, time.monotonic() - started))
    except OSError as error:
        into.append((0, time.monotonic() - started))
        FAILURES.append(f"{method} {path}: {type(error).__name__} {error}")


def calls_alongside(host: str, port: int, token: str, rate: float, seconds: float) -> Outcome:
    """Signed calls to /voice at ``rate`` a second, and the fallback and the health check every second."""
    base, outcome, threads = f"http://{host}:{port}", Outcome(), []
    body = urlencode(CALL).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(token, base + "/voice", CALL)}
    started, sent, probed = time.monotonic(), 0, 0
    while (elapsed := time.monotonic() - started) < seconds:
        jobs = []
        if sent < elapsed * rate:
            jobs.append(("POST", "/voice", body, headers, outcome.calls))
            sent += 1
        if probed < elapsed:
            jobs += [("GET", path, b"", {}, results) for path, results in outcome.probes.items()]
            probed += 1
        for method, path, data, extra, into in jobs:
            threads.append(threading.Thread(target=ask, args=(host, port, method, path, data, extra, into), daemon=True))
            threads[-1].start()
        time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=TWILIO_SECONDS + 5)
    return outcome


def workers_rss_kb(master: int) -> int:
    """Resident memory (VmRSS, kB) of the master's workers, together."""
    total = 0
    for pid, parent in process_tree().items():
        if parent == master:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def gunicorn_master(root: int) -> int:
    """The gunicorn master under the shell ``root`` (bash -c execs it: usually ``root`` itself)."""
    tree = process_tree()
    chain = [root] + [pid for pid, parent in tree.items() if parent == root]
    return next(pid for pid in chain if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=5.0, help="signed calls a second (default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "connections.json")
    args = parser.parse_args()

    limit = raise_open_files(args.sockets + 1000)
    if limit < args.sockets + 200:
        raise SystemExit(f"this process may open {limit} files: too few for {args.sockets} sockets (raise ulimit -Hn)")
    token, port, host = "bench-token", free_port(), "127.0.0.1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_URL"))}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = loopback(procfile_web())
    print(f"Procfile web line (bound to 127.0.0.1): {command}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ivr-connections-") as folder:
        env["IVR_STATS_DB"] = str(Path(folder) / "stats.sqlite3")
        server = start("app", command, env, port, "/healthz", Path(folder))
        attack = Attack(host, port, args.sockets)
        try:
            master = gunicorn_master(server.process.pid)
            calls_alongside(host, port, token, args.rate, 1.0)  # warm up
            before_kb = workers_rss_kb(master)
            attack.start()
            outcome = calls_alongside(host, port, token, args.rate, args.seconds)
            held = len(attack.connected)
            during_kb = workers_rss_kb(master)
        finally:
            attack.close()
            server.stop()
        summaries = [json.loads(line) for line in server.log.read_text().splitlines() if '"event":"connections' in line]

    answered, asked = outcome.answered()
    probes = {path: outcome.answered(path) for path in outcome.probes}
    met = answered == asked > 0 and all(ok == total > 0 for ok, total in probes.values())
    per_connection_kb = (during_kb - before_kb) / held if held else 0.0
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "procfile_web": command,
        "sockets": args.sockets,
        "kinds": list(KINDS),
        "seconds": args.seconds,
        "signed_calls": {"asked": asked, "answered_200_within_15_s": answered},
        "signed_calls_p50_ms": round(outcome.percentile(0.5) * 1000, 1),
        "signed_calls_p99_ms": round(outcome.percentile(0.99) * 1000, 1),
        "signed_calls_max_ms": round(outcome.percentile(1.0) * 1000, 1),
        "probes_answered": {path: {"answered": ok, "asked": total} for path, (ok, total) in probes.items()},
        "attack": {
            "opened": attack.opened,
            "closed_by_server": attack.closed_by_server,
            "failed": attack.failed,
            "held_at_end": held,
        },
        "workers_rss_mb": {"before": round(before_kb / 1024, 1), "during": round(during_kb / 1024, 1)},
        "memory_per_connection_kb": round(per_connection_kb, 1),
        "not_answered": FAILURES + [f"POST /voice: status {status}" for status, _ in outcome.calls if status not in (0, 200)],
        "server_summaries": [line["connections"] for line in summaries],
        "met": met,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "server_summaries")}, indent=2))
    print(f"  {'PASS' if met else 'FAIL'}  every signed call answered 200 within 15 s; fallback and health check answering")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
