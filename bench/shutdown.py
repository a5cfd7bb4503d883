"""Shutdown and restart under load: what SIGTERM and SIGHUP lose, on the Procfile's own process.

    python bench/shutdown.py [--runs 5] [--seconds 30] [--connections 50]

Needs wrk (Debian: ``apt-get install wrk``; for this bench only, nothing else uses it). Each run starts
the Procfile's ``web:`` line (bound to 127.0.0.1, two workers) and lets ``wrk -c50`` send signed calls
to ``/voice`` for ``--seconds``; a third of the way in, SIGTERM goes to the whole process group (as
systemd and the platforms send it) or SIGHUP to the master (a reload). wrk's read and timeout errors
and non-2xx answers are requests sent on a connection the server had accepted and never answered well:
they must be 0. After SIGTERM new connections are refused, as they should be (reported, not counted):
wrk counts a request it could not send on a refused connection as a connect or write error. After
SIGHUP there must be none of those either. Writes bench/results/shutdown.json; exits 1 unless every
run lost nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.connections import CALL, gunicorn_master  # noqa: E402 - after the path set-up
from bench.load import free_port, loopback, machine, procfile_web, start  # noqa: E402
from ivr.security import sign  # noqa: E402

SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Twilio-Signature"] = {signature}
"""
ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def one_run(how: signal.Signals, seconds: float, connections: int, folder: Path) -> dict[str, object]:
    token, port = "bench-token", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_URL"))}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token}
    env |= {"IVR_STATS_DB": str(folder / f"{how.name}-{port}.sqlite3")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    script = folder / "signed.lua"
    script.write_text(SCRIPT.format(body=lua(urlencode(CALL)), signature=lua(sign(token, base + "/voice", CALL))))
    server = start(f"{how.name}-{port}", loopback(procfile_web()), env, port, "/healthz", folder)
    try:
        master = gunicorn_master(server.process.pid)
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "15s", "-s", str(script), base + "/voice"]
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(
            seconds / 3, lambda: os.killpg(os.getpgid(master), how) if how is signal.SIGTERM else os.kill(master, how)
        )
        timer.start()
        output, _ = wrk.communicate(timeout=seconds + 60)
        timer.join()
        stopped = server.process.wait(timeout=30) if how is signal.SIGTERM else None
    finally:
        if server.process.poll() is None:
            server.stop()
    found = ERRORS.search(output)
    connect, read, write, timeout = (int(n) for n in found.groups()) if found else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    return {
        "signal": how.name,
        "requests": int(requests.group(1)) if requests else 0,
        "lost": read + timeout + (int(non_2xx.group(1)) if non_2xx else 0),
        "not_sent": connect + write,  # refused connections: wrk could not send its request
        "errors": {"connect": connect, "read": read, "write": write, "timeout": timeout},
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "server_exit": stopped,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "shutdown.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    runs = []
    with tempfile.TemporaryDirectory(prefix="ivr-shutdown-") as folder:
        for how in (signal.SIGTERM, signal.SIGHUP):
            for number in range(args.runs):
                run = one_run(how, args.seconds, args.connections, Path(folder))
                runs.append(run)
                print(f"{how.name} run {number + 1}: {run}", flush=True)
    lost = sum(int(run["lost"]) for run in runs)  # type: ignore[call-overload]
    refused_on_reload = sum(int(run["not_sent"]) for run in runs if run["signal"] == "SIGHUP")  # type: ignore[call-overload]
    met = lost == 0 and refused_on_reload == 0
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "procfile_web": loopback(procfile_web()),
        "wrk": f"wrk -t2 -c{args.connections} -d{args.seconds:g}s --timeout 15s, signed POST /voice",
        "signal_at_s": round(args.seconds / 3, 1),
        "runs": runs,
        "lost": lost,
        "met": met,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    verdict = "PASS" if met else "FAIL"
    print(f"  {verdict}  {lost} requests lost in {len(runs)} runs; {refused_on_reload} connections refused on reload")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
