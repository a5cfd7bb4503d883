"""The Procfile's process as Twilio and the rest of the internet reach it: slow and idle clients,
workers dying, files broken on disk, reloads. Every test here runs the Procfile's own ``web:`` line."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from ivr.security import sign
from support import (
    CALL,
    DATA,
    SERVING_TOKEN,
    free_port,
    gunicorn_processes,
    procfile_env,
    procfile_web,
    signed_call,
    wait_for_workers,
)

pytestmark = pytest.mark.serving  # the Procfile's own process, under load

# --- slow and idle clients ------------------------------------------------------------------------------

IDLE = 200  # connections opened and never written to
SLOW = 20  # clients sending a request one byte per second
SECONDS = 12  # how long signed calls are timed while those hold on


def test_idle_and_slow_clients_never_hold_back_a_call(tmp_path: Path) -> None:
    """200 idle sockets and 20 clients trickling a request a byte a second, with no proxy in front:
    signed calls still get their TwiML, p99 under 1 s and none over 15 s (Twilio's limit)."""
    env = procfile_env(free_port(), TWILIO_AUTH_TOKEN=SERVING_TOKEN, WEB_CONCURRENCY="2")
    with procfile_web(env, tmp_path / "output.log") as base:
        address = urlsplit(base)
        host, port = address.hostname or "", address.port or 0
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(IDLE)]
        stop = threading.Event()
        trickled: list[int] = []

        def trickle() -> None:
            request = f"POST /voice HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 100000\r\n\r\n".encode()
            with socket.create_connection((host, port), timeout=5) as slow:
                for byte in request + b"x" * 100:
                    if stop.wait(1.0):
                        return
                    slow.sendall(bytes([byte]))
                    trickled.append(1)

        slow_clients = [threading.Thread(target=trickle, daemon=True) for _ in range(SLOW)]
        for thread in slow_clients:
            thread.start()
        time.sleep(2)  # everyone is connected and the slow clients have started
        latencies: list[float] = []
        try:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                started = time.monotonic()
                answer = signed_call(base)
                latencies.append(time.monotonic() - started)
                assert answer.status == 200 and "<Gather" in answer.body
                time.sleep(0.02)
        finally:
            stop.set()
            for thread in slow_clients:
                thread.join(timeout=5)
            for sock in idle:
                sock.close()
    assert len(trickled) >= SLOW * (SECONDS - 2), "the slow clients were not connected all along"
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert len(latencies) >= 100, latencies
    p50, slowest = latencies[len(latencies) // 2], latencies[-1]
    print(
        f"\nslow clients: {len(latencies)} calls, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {slowest * 1000:.1f} ms"
    )
    assert p99 < 1.0 and latencies[-1] < 15, f"p99 {p99:.3f} s, slowest {latencies[-1]:.3f} s of {len(latencies)} calls"


# --- restarts never read the disk again -------------------------------------------------------------------


def welcome_and_menu(base: str) -> list[str]:
    welcome = signed_call(base)
    action = urlsplit(welcome.gather_action())
    menu = signed_call(base, f"{action.path}?{action.query}", {"Digits": "1"})
    return [welcome.body, menu.body]


def test_workers_dying_and_reloads_with_broken_files_keep_the_last_good_flows(tmp_path: Path) -> None:
    """Break every file, kill each worker in turn, HUP the master: calls get the flows loaded at
    start, and the log says why the files were not taken. Then fix them: ``ivr reload`` takes them."""
    config, flows = tmp_path / "config", tmp_path / "flows"
    shutil.copytree(DATA / "config", config)
    shutil.copytree(DATA / "flows", flows)
    port = free_port()
    env = procfile_env(port, TWILIO_AUTH_TOKEN=SERVING_TOKEN, WEB_CONCURRENCY="2", IVR_CONFIG=str(config), IVR_FLOWS=str(flows))
    output = tmp_path / "output.log"
    ivr = [str(Path(sys.executable).parent / "ivr"), "reload"]
    with procfile_web(env, output) as base:
        before = welcome_and_menu(base)
        mini = (flows / "mini.yaml").read_text(encoding="utf-8")
        (flows / "mini.yaml").write_text("nodes: [broken", encoding="utf-8")
        (config / "helplines.yaml").write_text("helplines:\n  tele_onthaal: {number: 106}\n", encoding="utf-8")
        (config / "settings.yaml").unlink()

        workers = wait_for_workers(port, 2, set())
        master = gunicorn_processes(port)[0]
        for worker in sorted(workers):  # each in turn, as a crash or the OOM killer would
            os.kill(worker, signal.SIGKILL)
            workers = wait_for_workers(port, 2, {worker})
            assert welcome_and_menu(base) == before
        refused = subprocess.run([*ivr, str(master)], env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "settings.yaml" in refused.stderr  # checked first: nothing sent
        os.kill(master, signal.SIGHUP)  # as systemctl reload or an operator would, files unchecked
        workers = wait_for_workers(port, 2, workers)
        assert welcome_and_menu(base) == before
        assert gunicorn_processes(port)[0] == master

        shutil.copytree(DATA / "config", config, dirs_exist_ok=True)
        (flows / "mini.yaml").write_text(mini.replace("Info: druk 3.", "Informatie: druk 3."), encoding="utf-8")
        taken = subprocess.run([*ivr, str(master)], env=env, capture_output=True, text=True, timeout=60)
        assert taken.returncode == 0, taken.stderr
        wait_for_workers(port, 2, workers)
        after = welcome_and_menu(base)
        assert after[0] == before[0] and after[1] != before[1] and "Informatie: druk 3." in after[1]

    printed = output.read_text(encoding="utf-8")
    assert printed.count("reload refused") == 1 and "settings.yaml" in printed
    assert printed.count('"reloaded: serving the files on disk"') == 1


# --- nothing printed carries a caller's data ---------------------------------------------------------------

CALLER = {"From": "+32470123456", "Digits": "4815162342", "SpeechResult": "Jan Peeters"}


def raw_request(host: str, port: int, data: bytes, *, then: float = 0.0) -> bytes:
    """Send ``data`` as is; wait ``then`` seconds before reading what comes back."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        time.sleep(then)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_what_the_procfile_process_prints_never_carries_a_query_string(tmp_path: Path) -> None:
    """GET webhooks (Twilio's query string holds From, To, Digits) are refused; the fallback answers them
    without reading the query; and when gunicorn names a request itself (a bad request line, a worker
    aborted while a request is in flight), the query string is cut out of its line."""
    port = free_port()
    env = procfile_env(port, TWILIO_AUTH_TOKEN=SERVING_TOKEN, WEB_CONCURRENCY="2")
    output = tmp_path / "output.log"
    query = urlencode({**CALL, **CALLER})
    with procfile_web(env, output) as base:
        host = "127.0.0.1"
        for path, status in (("/voice", 405), ("/voice/step?flow=helpline&lang=nl&node=main", 405), ("/voice/fallback", 200)):
            url = f"{path}{'&' if '?' in path else '?'}{query}"
            signature = sign(SERVING_TOKEN, base + url, {})
            head = f"GET {url} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Twilio-Signature: {signature}\r\n\r\n"
            answer = raw_request(host, port, head.encode())
            assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]
        # A URI that is not printable ASCII: gunicorn refuses it and names the whole request line.
        assert b" 400 " in raw_request(host, port, f"GET /voice?{query}&é HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # A worker aborted (as gunicorn does on a time-out) while requests are in flight.
        workers = wait_for_workers(port, 2, set())
        in_flight = [socket.create_connection((host, port), timeout=5) for _ in range(4)]
        for sock in in_flight:
            sock.sendall(f"GET /voice/fallback?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10\r\n".encode())
        time.sleep(0.5)
        for worker in workers:
            os.kill(worker, signal.SIGABRT)
        wait_for_workers(port, 2, workers)
        for sock in in_flight:
            sock.close()
    printed = output.read_text(encoding="utf-8")
    for value in (*CALLER.values(), "32470123456", CALL["CallSid"], "From="):
        assert value not in printed, f"{value!r} is in what the process printed:\n{printed}"
    assert "Invalid HTTP request line" in printed and "?…" in printed  # gunicorn named it, without the query
