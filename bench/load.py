"""Load benchmark: the phone menu as the Procfile runs it, against the idiomatic peer and the floor.

    python bench/load.py [--duration 4] [--rounds 9] [--callers 32] [--workers 2]

1. Times start-up: ``create_app()`` loading and checking every flow, in a fresh process.
2. Starts the app with the Procfile's ``web:`` line and, with the same server command,
   the floor (bench/floor.py: one constant TwiML document, no flow, no signature check) and
   the idiomatic peer (bench/peer.py: Twilio's "secure your Flask app" guide: a decorator
   calling RequestValidator.validate, a VoiceResponse built per request, one log line).
3. Simulated callers (Python, asyncio) follow seven journeys through the shipped flow as
   Twilio does: each call POSTs the usual Twilio fields (a CallSid of its own, a caller's
   number), signs every request, and follows the TwiML it gets back (the
   journey's next key on a <Gather>, the <Redirect> when it stays silent, a connected <Dial>);
   when the call is over, Twilio's status callback (the app sums the call up in its statistics).
   Their requests against the app are recorded for wrk, when it is installed.
4. In each round, drives the floor at half and at full caller concurrency, then the peer and
   the app at full concurrency: with the Python callers, then with wrk replaying the
   recorded requests (a client in C that leaves the servers most of the machine). The
   targets are checked on wrk's figures when there are any. If twice the callers bring no
   more requests per second from the floor while the client has CPU to spare, the server is
   the limit, not the load generator.
5. Prints requests per second, p50/p95/p99 latency and errors (medians of the rounds), the
   ratios (medians of each round's), the peak resident memory of each worker, checks the
   targets, and writes everything to bench/results/latest.json. Exit status 1 when a target
   is missed.

Every server listens on 127.0.0.1 only (the Procfile's 0.0.0.0 is the one thing changed), and
every run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.security import sign  # noqa: E402 - after the path set-up: the checkout's ivr, installed or not

APP_FACTORY = "'ivr.app:create_app()'"
FLOOR_FACTORY = "'bench.floor:create_app()'"
PEER_FACTORY = "'bench.peer:create_app()'"
# What Twilio signs: the public URL in front of the servers (IVR_PUBLIC_URL), the same for all
# of them, so that one signed request is valid on each.
PUBLIC = "https://ivr.bench.invalid"
WARM_UP = 1  # seconds of load before each measured run (TCP; the servers stay up, so their caches are warm)
STATUS = "/voice/status"  # the number's status callback, as `ivr twilio connect` sets it
REQUEST_TIMEOUT = 10.0

TARGETS = {
    "errors": 0,
    "throughput_vs_peer_min": 0.95,
    "p99_vs_floor_max": 2.0,
    "worker_peak_rss_mb_max": 80.0,
    "startup_s_max": 0.5,
}

# Journeys through the shipped flow (ivr/flows/helpline.yaml): a key, or None for silence.
# After its last step the caller hangs up, so a call makes len(journey) + 1 requests on the
# app and on the floor alike (unless the app ends it sooner), and Twilio sends the status callback.
JOURNEYS: tuple[tuple[str | None, ...], ...] = (
    ("1", "0", None),  # Dutch, talk to someone now: hears 106, stays silent, the call ends
    ("2", "1", "9", "*", "0"),  # French: kinds of help, again, main menu, talk now
    (None, None, None),  # says nothing at all: reprompted, then told the Dutch line's number
    ("4", "7", "8", "5"),  # English, three wrong keys: reprompted, then told the number
    ("3", "1", None, None, None, None),  # German: kinds of help, then silence back to the menu and on
    ("4", "0", "9", None),  # English: the number, once more, then silence
    ("1", "1", "0"),  # Dutch: kinds of help, then talk now
)

GATHER = re.compile(rb'<Gather\b[^>]*\baction="([^"]*)"')
REDIRECT = re.compile(rb"<Redirect\b[^>]*>([^<]*)</Redirect>")
DIAL = re.compile(rb'<Dial\b[^>]*\baction="([^"]*)"')
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
NO_BODY = (b"204", b"304")  # answers without a body (RFC 9112, 6.3)


# --- the load generator -------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run against one server."""

    server: str
    callers: int
    duration_s: float
    requests: int = 0
    calls: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    generator_cpu: float = 0.0  # the generator's CPU time / wall time (1.0 = one core saturated)
    client: str = ""
    error_samples: list[str] = field(default_factory=list)


class Exchange(asyncio.Protocol):
    """One HTTP exchange on its own connection: send the request, read the answer, close at once.

    gunicorn waits after each answer for the client to close the connection (RFC 9112's
    graceful close), so a client that closes late holds the worker: close as soon as the body
    announced by Content-Length is in.
    """

    def __init__(self, payload: bytes, done: asyncio.Future[bytes]) -> None:
        self.payload, self.done, self.data, self.expected = payload, done, b"", -1
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.payload)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.expected < 0:
            end = self.data.find(b"\r\n\r\n")
            length = CONTENT_LENGTH.search(self.data, 0, end) if end >= 0 else None
            if length is not None:
                self.expected = end + 4 + int(length.group(1))
            elif end >= 0 and self.data[9:12] in NO_BODY:
                self.expected = end + 4  # a 204 (the status callback's answer) has no body and no length
        if 0 <= self.expected <= len(self.data):
            self.finish(None)
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(exc)

    def finish(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(self.data)
            else:
                self.done.set_exception(exc)


class Generator:
    """Simulated callers, all in one asyncio loop, each making one signed request at a time.

    Lean on purpose: the generator shares the machine with the servers and must not be what
    limits the requests per second, so there is a protocol per connection and no task per
    request. Every call has a CallSid of its own, as on Twilio: the app keeps a call's turns
    under its keyed hash until the call is summed up, and callers that shared CallSids would
    pile many calls' turns onto one.
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.sent: list[tuple[str, dict[str, str]]] | None = None  # every request sent, when recording
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.calls = 0
        self.measuring_until = 0.0
        self.account = "AC" + secrets.token_hex(16)

    def new_call(self) -> dict[str, str]:
        """The fields Twilio sends with every request of one new call."""
        caller = f"+32470{secrets.randbelow(10**6):06d}"
        return {
            "AccountSid": self.account,
            "ApiVersion": "2010-04-01",
            "CallSid": "CA" + secrets.token_hex(16),
            "CallStatus": "in-progress",
            "Called": "+3225550100",
            "Caller": caller,
            "Direction": "inbound",
            "From": caller,
            "FromCountry": "BE",
            "To": "+3225550100",
            "ToCountry": "BE",
        }

    def payload(self, call: dict[str, str], path: str, extra: tuple[tuple[str, str], ...]) -> bytes:
        """The request Twilio would send: the call's fields plus ``extra``, signed for ``path``."""
        fields = call | dict(extra)
        if self.sent is not None:
            self.sent.append((path, fields))
        return signed_request(self.host, self.port, self.token, path, fields)

    async def request(self, path: str, payload: bytes, *, twiml: bool = True) -> bytes | None:
        """Send one signed request; its answer, or None on an error (counted). ``twiml``: the answer
        must be a 200 with a <Response>; else any 2xx will do (the status callback's 204)."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        done: asyncio.Future[bytes] = loop.create_future()
        exchange = Exchange(payload, done)

        def time_out() -> None:
            if not done.done():
                done.set_exception(TimeoutError())

        timer = loop.call_later(REQUEST_TIMEOUT, time_out)
        try:
            await loop.create_connection(lambda: exchange, self.host, self.port)
            data = await done
        except OSError as exc:  # TimeoutError is an OSError
            exchange.close()
            self._record(started, f"{path}: {type(exc).__name__}")
            return None
        finally:
            timer.cancel()
        top, _, answer = data.partition(b"\r\n\r\n")
        status = top[9:12]
        if (status != b"200" or b"<Response>" not in answer) if twiml else not status.startswith(b"2"):
            self._record(started, f"{path}: HTTP {status.decode(errors='replace')} {answer[:80]!r}")
            return None
        self._record(started, None)
        return answer

    def _record(self, started: float, error: str | None) -> None:
        if error is not None:
            self.errors.append(error)  # counted whenever it happens
        now = time.perf_counter()
        if now <= self.measuring_until:  # a request that ends after the run is not in its figures
            self.latencies.append(now - started)

    async def call(self, journey: tuple[str | None, ...]) -> None:
        identity = self.new_call()
        turns = await self.turns(identity, journey)
        # Twilio's status callback when the call is over (`ivr twilio connect` sets it up): the app
        # sums the call up in its statistics and forgets its turns, as it does in service.
        fields = (("CallDuration", str(15 * turns)), ("CallStatus", "completed"))
        await self.request(STATUS, self.payload(identity, STATUS, fields), twiml=False)
        self.calls += 1

    async def turns(self, identity: dict[str, str], journey: tuple[str | None, ...]) -> int:
        """Follow ``journey`` from the start of a call; the requests answered."""
        answer = await self.request("/voice", self.payload(identity, "/voice", ()))
        answered = 0
        for step in journey:
            if answer is None:
                return answered
            answered += 1
            dial, gather, redirect = DIAL.search(answer), GATHER.search(answer), REDIRECT.search(answer)
            extra: tuple[tuple[str, str], ...]
            if dial is not None:
                url, extra = dial.group(1), (("DialCallStatus", "completed"), ("DialCallDuration", "1"))
            elif gather is not None and step is not None:
                url, extra = gather.group(1), (("Digits", step),)
            elif redirect is not None and step is None:
                url, extra = redirect.group(1), ()
            else:
                return answered  # the app ended the call (<Hangup/>)
            # Twilio calls the public URL; the proxy in front of us would forward its path.
            path = html.unescape(url.decode()).removeprefix(PUBLIC)
            answer = await self.request(path, self.payload(identity, path, extra))
        return answered + (answer is not None)

    async def caller(self, until: float, rng: random.Random) -> None:
        while time.perf_counter() < until:
            await self.call(rng.choice(JOURNEYS))

    async def drive(self, callers: int, duration: float, seed: int) -> None:
        until = time.perf_counter() + duration
        self.measuring_until = until
        await asyncio.gather(*(self.caller(until, random.Random(seed + i)) for i in range(callers)))


def load(server: str, port: int, token: str, callers: int, duration: float) -> Run:
    """Warm up, then drive ``callers`` concurrent callers for ``duration`` seconds."""
    generator = Generator("127.0.0.1", port, token)
    asyncio.run(generator.drive(callers, WARM_UP, seed=1))
    generator.latencies.clear()  # errors while warming up still count
    generator.calls = 0
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(generator.drive(callers, duration, seed=1000))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    latencies = sorted(generator.latencies)
    run = Run(server, callers, duration, requests=len(latencies), calls=generator.calls, errors=len(generator.errors))
    run.client = "python journeys"
    if latencies:
        run.rps = round(len(latencies) / duration, 1)
        run.p50_ms, run.p95_ms, run.p99_ms = (round(percentile(latencies, q) * 1000, 2) for q in (50, 95, 99))
    run.generator_cpu = round(cpu / wall, 2)
    run.error_samples = sorted(set(generator.errors))[:5]
    return run


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def signed_request(host: str, port: int, token: str, path: str, fields: dict[str, str]) -> bytes:
    """One POST as Twilio sends it, signed for the public URL of ``path``."""
    body = urlencode(fields).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: TwilioProxy/1.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {sign(token, PUBLIC + path, fields)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


def record(port: int, token: str, requests: int = 3000) -> list[tuple[str, dict[str, str]]]:
    """Follow the journeys against the app, call after call, and keep every signed request sent."""
    generator = Generator("127.0.0.1", port, token)
    generator.sent = []
    sent = generator.sent

    async def calls() -> None:
        rng = random.Random(99)
        while len(sent) < requests:
            await generator.call(rng.choice(JOURNEYS))

    asyncio.run(calls())
    if generator.errors:
        raise SystemExit(f"recording the journeys failed: {generator.errors[:3]}")
    return sent


# --- the replay with wrk ------------------------------------------------------------------------------

# wrk (C, one thread, an event loop) needs a fraction of the Python generator's CPU per request.
# It sends the recorded requests in order: each server gets the journeys' exact requests, signed,
# without a client in Python taking a share of the machine from the servers. The recording is
# repeated with fresh CallSids (each copy signed again), and each wrk run starts where the last one
# against the same server stopped, so no CallSid comes back while the app may still keep its call.
# The requests are read from a data file (a length line, then the request): a Lua table of tens
# of thousands of string constants is more than LuaJIT's parser takes.
REPLAY_LUA = """
local recorded = {}
local i = 0
init = function(args)
  local data = assert(io.open(args[1], "rb"))
  while true do
    local length = data:read("*l")
    if not length then break end
    recorded[#recorded + 1] = data:read(tonumber(length))
  end
  data:close()
  i = tonumber(args[2]) % #recorded
end
request = function()
  i = i % #recorded + 1
  return recorded[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %.0f %.0f %.0f\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""
REPLAY_RATE = 2000  # requests per second the replay data is sized for (more than the app answers here)


@dataclass
class Replay:
    """The recorded requests for wrk, and how far into them each server's replays have gone."""

    script: Path
    data: Path
    requests: int
    sent: dict[str, int] = field(default_factory=dict)


def replay_data(recorded: list[tuple[str, dict[str, str]]], port: int, token: str, folder: Path, requests: int) -> Replay:
    """At least ``requests`` requests: copies of ``recorded``, each call with a CallSid of its own."""
    data = folder / "replay.data"
    written = 0
    with data.open("wb") as out:
        while written < requests:
            fresh: dict[str, str] = {}  # the recording's CallSid -> this copy's
            for path, fields in recorded:
                sid = fresh.setdefault(fields["CallSid"], "CA" + secrets.token_hex(16))
                request = signed_request("127.0.0.1", port, token, path, fields | {"CallSid": sid})
                out.write(b"%d\n%s" % (len(request), request))
                written += 1
    script = folder / "replay.lua"
    script.write_text(REPLAY_LUA, encoding="ascii")
    return Replay(script, data, written)


def replay(server: str, port: int, recording: Replay, callers: int, duration: float) -> Run:
    """Warm up, then replay the recorded requests with ``callers`` connections for ``duration`` seconds."""

    def wrk(seconds: float) -> tuple[re.Match[str], float]:
        start = recording.sent.get(server, 0)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = ["wrk", "-t1", f"-c{callers}", f"-d{seconds:g}s", "-s", str(recording.script)]
        command += [f"http://127.0.0.1:{port}", "--", str(recording.data), str(start)]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        found = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.MULTILINE)
        if found is None:
            raise SystemExit(f"no figures from wrk:\n{out}")
        # The requests still in flight when wrk stopped were sent too: start past them.
        recording.sent[server] = start + int(found.group(1)) + callers
        return found, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    wrk(WARM_UP)
    found, cpu = wrk(duration)
    requests, micros, status_errors, socket_errors, p50, p95, p99 = map(int, found.groups())
    return Run(
        server,
        callers,
        duration,
        requests=requests,
        errors=status_errors + socket_errors,
        rps=round(requests / (micros / 1e6), 1),
        p50_ms=round(p50 / 1000, 2),
        p95_ms=round(p95 / 1000, 2),
        p99_ms=round(p99 / 1000, 2),
        generator_cpu=round(cpu / (micros / 1e6), 2),
        client="wrk replay",
    )


# --- servers ------------------------------------------------------------------------------------


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("no web: line in the Procfile")


def loopback(command: str) -> str:
    """The Procfile's command with its 0.0.0.0 bind replaced by 127.0.0.1: nothing else changes."""
    if command.count("0.0.0.0:") != 1:
        raise SystemExit(f"expected one '--bind 0.0.0.0:$PORT' in the Procfile's web line: {command}")
    return command.replace("0.0.0.0:", "127.0.0.1:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_s: float

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def workers(self) -> dict[int, int]:
        """Peak resident memory (VmHWM, kB) of each gunicorn worker, by pid."""
        tree = process_tree()
        masters = [pid for pid in descendants(tree, self.process.pid) | {self.process.pid} if is_gunicorn(pid)]
        master = min(masters, key=lambda pid: len(ancestors(tree, pid)))
        return {pid: peak_rss_kb(pid) for pid, parent in tree.items() if parent == master}

    def master_rss_kb(self) -> int:
        tree = process_tree()
        masters = [pid for pid in descendants(tree, self.process.pid) | {self.process.pid} if is_gunicorn(pid)]
        return peak_rss_kb(min(masters, key=lambda pid: len(ancestors(tree, pid))))


def start(name: str, command: str, env: dict[str, str], port: int, health: str, logs: Path, cwd: Path = ROOT) -> Server:
    """Run ``command`` as the Procfile does, in ``cwd``, and wait until it answers ``health``."""
    log = logs / f"{name}.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        # bash -c, as platforms run Procfile lines; a process group of its own, so stop() ends all of it.
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, process, port, log, 0.0)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=1) as answer:
                answer.read()
            break
        except urllib.error.HTTPError as refused:  # an answer, even a 403, means it is serving
            refused.close()
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # TimeoutError: a worker still booting
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise SystemExit(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
            time.sleep(0.05)
    server.ready_s = round(time.perf_counter() - started, 2)
    return server


def process_tree() -> dict[int, int]:
    """pid -> parent pid, for every process we can see."""
    tree = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            tree[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return tree


def descendants(tree: dict[int, int], root: int) -> set[int]:
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in tree.items() if parent in frontier} - found
        found |= frontier
    return found


def ancestors(tree: dict[int, int], pid: int) -> list[int]:
    chain = []
    while pid in tree and tree[pid] not in chain and tree[pid] != 0:
        pid = tree[pid]
        chain.append(pid)
    return chain


def is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --- start-up, machine, report ---------------------------------------------------------------------

STARTUP_PROBE = """
import json, time
t0 = time.perf_counter()
from ivr.app import create_app
t1 = time.perf_counter()
create_app()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "create_app_s": t2 - t1}))
"""


def startup(env: dict[str, str], times: int = 5) -> dict[str, float]:
    """create_app() in a fresh process: load and check every flow and the config (median of ``times``)."""
    samples = []
    for _ in range(times):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: round(statistics.median(s[key] for s in samples), 3) for key in ("import_s", "create_app_s")}


def machine() -> dict[str, object]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def scan_log(log: Path, numbers: tuple[str, ...]) -> dict[str, int]:
    """Count the app's log lines: JSON or not, errors, and any that carry a caller's number or a CallSid."""
    lines = log.read_text(errors="replace").splitlines()
    json_lines = [line for line in lines if line.startswith("{")]
    return {
        "lines": len(lines),
        "json_lines": len(json_lines),
        "error_lines": sum(1 for line in json_lines if '"level":"error"' in line),
        "lines_with_caller_data": sum(1 for line in lines if "CA" in line and re.search(r"CA[0-9a-f]{32}", line))
        + sum(1 for line in lines if any(n in line for n in numbers)),
    }


@dataclass
class Summary:
    """The median of the rounds' runs for one server at one concurrency."""

    server: str
    callers: int
    rounds: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int
    generator_cpu: float
    client: str


def summarize(runs: list[Run]) -> Summary:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    return Summary(
        server=runs[0].server,
        callers=runs[0].callers,
        rounds=len(runs),
        rps=median([r.rps for r in runs]),
        p50_ms=median([r.p50_ms for r in runs]),
        p95_ms=median([r.p95_ms for r in runs]),
        p99_ms=median([r.p99_ms for r in runs]),
        errors=sum(r.errors for r in runs),
        requests=sum(r.requests for r in runs),
        generator_cpu=median([r.generator_cpu for r in runs]),
        client=runs[0].client,
    )


def table(rows: list[Run] | list[Summary]) -> str:
    head = f"{'server':<10} {'callers':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"
    lines = [f"{head} {'client CPU':>10}  client"]
    for r in rows:
        lines.append(
            f"{r.server:<10} {r.callers:>7} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.p99_ms:>8.2f}"
            f" {r.errors:>6} {r.generator_cpu:>10.2f}  {r.client}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=4, help="whole seconds of load per run (default 4)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds over the servers; medians are reported (default 9)")
    parser.add_argument("--callers", type=int, default=32, help="concurrent simulated callers (default 32)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")), help="WEB_CONCURRENCY")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument(
        "--statistics", choices=("on", "off"), default="on", help="write statistics (SQLite, or DATABASE_URL) as deployed"
    )
    args = parser.parse_args()

    token = secrets.token_hex(16)
    bin_dir = str(Path(sys.executable).parent)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    base_env |= {"PATH": bin_dir + os.pathsep + base_env.get("PATH", ""), "WEB_CONCURRENCY": str(args.workers)}
    web = loopback(procfile_web())
    if web.count(APP_FACTORY) != 1:
        raise SystemExit(f"expected {APP_FACTORY} in the Procfile's web line: {web}")
    has_wrk = shutil.which("wrk") is not None

    print(f"Procfile web line (bound to 127.0.0.1): {web}", flush=True)
    boot = startup(base_env | {"TWILIO_AUTH_TOKEN": token})
    print(f"start-up: create_app() {boot['create_app_s']:.3f} s (imports {boot['import_s']:.3f} s)", flush=True)

    half = max(1, args.callers // 2)
    plan = [("floor", half), ("floor", args.callers), ("peer", args.callers), ("app", args.callers)]
    factories = {"floor": FLOOR_FACTORY, "peer": PEER_FACTORY, "app": APP_FACTORY}
    journeys: list[Run] = []  # the Python generator, following the TwiML live
    replays: list[Run] = []  # wrk, replaying the journeys' recorded requests
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
        # Statistics on, as deployed: SQLite in the run's folder unless DATABASE_URL names a database.
        if args.statistics == "off":
            base_env["IVR_STATISTICS"] = "off"
        elif "DATABASE_URL" not in base_env:
            base_env["IVR_STATS_DB"] = str(Path(folder) / "stats.sqlite3")
        subprocess.run([str(Path(bin_dir) / "ivr"), "stats", "migrate"], env=base_env, check=True)
        servers: dict[str, Server] = {}
        try:
            for name, factory in factories.items():
                port = free_port()
                env = base_env | {
                    "PORT": str(port),
                    "TWILIO_AUTH_TOKEN": token,
                    "IVR_PUBLIC_URL": PUBLIC,
                    "IVR_LOG_KEY": secrets.token_hex(16),
                }
                command = web.replace(APP_FACTORY, factory)
                servers[name] = start(name, command, env, port, "/healthz" if name == "app" else "/", Path(folder))
            recording = None
            if has_wrk:
                # Enough for every run against one server, so that no CallSid repeats within a run.
                needed = int(args.rounds * (WARM_UP + args.duration) * REPLAY_RATE)
                app_port = servers["app"].port
                recording = replay_data(record(app_port, token), app_port, token, Path(folder), needed)
            print(table([]), flush=True)
            # All servers stay up, idle while another one is driven; the rounds interleave them,
            # so that anything else the machine does falls on all of them alike, and every other
            # round runs them in the reverse order, so that a machine slowing down (or speeding
            # up) over a round favours none of them.
            for round_number in range(args.rounds):
                for name, callers in plan if round_number % 2 == 0 else plan[::-1]:
                    port = servers[name].port
                    journeys.append(load(name, port, token, callers, args.duration))
                    print(table(journeys[-1:]).splitlines()[-1], flush=True)
                    if recording is not None:
                        replays.append(replay(name, port, recording, callers, args.duration))
                        print(table(replays[-1:]).splitlines()[-1], flush=True)
            app = servers["app"]
            workers = app.workers()
            master_kb = app.master_rss_kb()
            floor_workers = servers["floor"].workers()
        finally:
            for server in servers.values():
                server.stop()
        app_log = scan_log(app.log, ("+32470", "+3225550100"))

    # The targets are checked on wrk's figures when wrk is installed: it leaves the servers the
    # machine. The Python generator's figures show the same journeys followed live.
    primary = replays or journeys

    def summaries(runs: list[Run]) -> list[Summary]:
        return [summarize([r for r in runs if (r.server, r.callers) == key]) for key in plan]

    def per_round(runs: list[Run], name: str, other: str, measure: str, callers: int = args.callers) -> list[float]:
        """One server's figure divided by another's in the same round, for each round: each round's
        runs are a minute apart at most, so what else the machine does cancels out."""
        a = [getattr(r, measure) for r in runs if (r.server, r.callers) == (name, callers)]
        b = [getattr(r, measure) for r in runs if (r.server, r.callers) == (other, args.callers)]
        return [x / y for x, y in zip(a, b, strict=True) if y]

    def paired(runs: list[Run], name: str, other: str, measure: str, callers: int = args.callers) -> float:
        """The median over the rounds of :func:`per_round`."""
        values = per_round(runs, name, other, measure, callers)
        return round(statistics.median(values), 3) if values else 0.0

    def ratios(runs: list[Run]) -> dict[str, float]:
        half_vs_full = paired(runs, "floor", "floor", "rps", callers=half)
        vs_peer = per_round(runs, "app", "peer", "rps")
        return {
            "throughput_app_vs_peer": paired(runs, "app", "peer", "rps"),
            "throughput_app_vs_peer_min": round(min(vs_peer), 3) if vs_peer else 0.0,
            "throughput_app_vs_peer_max": round(max(vs_peer), 3) if vs_peer else 0.0,
            "throughput_app_vs_floor": paired(runs, "app", "floor", "rps"),
            "throughput_peer_vs_floor": paired(runs, "peer", "floor", "rps"),
            "p99_app_vs_floor": paired(runs, "app", "floor", "p99_ms"),
            "floor_full_vs_half_callers": round(1 / half_vs_full, 3) if half_vs_full else 0.0,
        }

    figures = ratios(primary)
    floor_full = summaries(primary)[1]
    worker_peak_mb = round(max(workers.values(), default=0) / 1024, 1)
    checks = {
        "zero errors": sum(r.errors for r in journeys + replays) == TARGETS["errors"],
        "throughput >= 0.95 x peer": figures["throughput_app_vs_peer"] >= TARGETS["throughput_vs_peer_min"],
        "p99 <= 2 x floor": figures["p99_app_vs_floor"] <= TARGETS["p99_vs_floor_max"],
        "worker peak RSS < 80 MB": worker_peak_mb < TARGETS["worker_peak_rss_mb_max"],
        "start-up < 0.5 s": boot["create_app_s"] < TARGETS["startup_s_max"],
        # The load generator is not the limit when twice the callers bring no more requests per
        # second from the floor while the generator still has CPU to spare.
        "load generator not the bottleneck": figures["floor_full_vs_half_callers"] < 1.15 and floor_full.generator_cpu < 0.9,
        "no caller data in the app's log": app_log["lines_with_caller_data"] == 0,
    }
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "procfile_web": web,
        "workers": args.workers,
        "callers": args.callers,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "startup": boot,
        "primary": primary[0].client,
        "wrk_replay": {"summary": [asdict(x) for x in summaries(replays)], "ratios": ratios(replays)} if replays else None,
        "python_journeys": {"summary": [asdict(x) for x in summaries(journeys)], "ratios": ratios(journeys)},
        "runs": [asdict(r) for r in journeys + replays],
        "worker_peak_rss_mb": {str(pid): round(kb / 1024, 1) for pid, kb in sorted(workers.items())},
        "floor_worker_peak_rss_mb": {str(pid): round(kb / 1024, 1) for pid, kb in sorted(floor_workers.items())},
        "master_peak_rss_mb": round(master_kb / 1024, 1),
        "app_ready_s": app.ready_s,
        "app_log": app_log,
        "targets": TARGETS,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"\nMedians of {args.rounds} rounds of {args.duration:g} s")
    for runs in (replays, journeys):
        if runs:
            print(f"\n{runs[0].client}:\n{table(summaries(runs))}")
            print("  " + "   ".join(f"{k} {v:.3f}" for k, v in ratios(runs).items()))
    if not replays:
        print("\n(wrk is not installed: the targets are checked on the Python generator's figures)")
    rss = ", ".join(f"{kb / 1024:.1f} MB" for kb in workers.values())
    print(f"\npeak RSS per app worker: {rss} (master {master_kb / 1024:.1f} MB)")
    print(f"start-up: create_app() {boot['create_app_s']:.3f} s; app answering {app.ready_s:.2f} s after launch")
    print(f"app log: {app_log}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(f"figures written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
