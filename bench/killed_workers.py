"""Both workers killed under load (the security review's row 28), on the Procfile's own process.

    python bench/killed_workers.py [--seconds 30] [--connections 200]

Needs wrk, as bench/shutdown.py does. Starts the Procfile's ``web:`` line (bound to 127.0.0.1, two
workers) and lets ``wrk -c200`` send signed calls to ``/voice``; a third of the way in, both workers get
SIGKILL at once (an out-of-memory kill, a crash in C code). The requests the killed workers held are
lost, seen by wrk as read errors (one per open connection) or timeouts (requests waiting while the new
workers start): they are reported. What must hold: no answer other than 2xx (a killed worker never yields
an error page), the master starts as many new workers, and after the kill every signed call, the fallback
and the health check answer again. (For the callers those calls were on, Twilio calls the Fallback URL.) Writes
bench/results/killed-workers.json; exits 1 when that does not hold.
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

from bench.connections import CALL, calls_alongside, gunicorn_master  # noqa: E402 - after the path set-up
from bench.load import free_port, loopback, machine, process_tree, procfile_web, start  # noqa: E402
from bench.shutdown import ERRORS, SCRIPT, lua  # noqa: E402
from ivr.security import sign  # noqa: E402


def workers(master: int) -> set[int]:
    return {pid for pid, parent in process_tree().items() if parent == master}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "killed-workers.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    token, port, host = "bench-token", free_port(), "127.0.0.1"
    base = f"http://{host}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_", "DATABASE_URL"))}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    killed: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="ivr-killed-workers-") as folder:
        env["IVR_STATS_DB"] = str(Path(folder) / "stats.sqlite3")
        script = Path(folder) / "signed.lua"
        script.write_text(SCRIPT.format(body=lua(urlencode(CALL)), signature=lua(sign(token, base + "/voice", CALL))))
        server = start("killed-workers", loopback(procfile_web()), env, port, "/healthz", Path(folder))
        try:
            master = gunicorn_master(server.process.pid)
            before = workers(master)

            def kill_both() -> None:
                killed.update(workers(master))
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)

            command = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds:g}s", "--timeout", "15s"]
            wrk = subprocess.Popen(
                [*command, "-s", str(script), base + "/voice"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            timer = threading.Timer(args.seconds / 3, kill_both)
            timer.start()
            output, _ = wrk.communicate(timeout=args.seconds + 60)
            timer.join()
            after = calls_alongside(host, port, token, 5.0, 5.0)  # the service once wrk has finished
            respawned = workers(master)
        finally:
            server.stop()
    found = ERRORS.search(output)
    connect, read, write, timeout = (int(n) for n in found.groups()) if found else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    answered, asked = after.answered()
    probes = {path: after.answered(path) for path in after.probes}
    lost = read + timeout
    checks = {
        "no_answer_but_2xx": (int(non_2xx.group(1)) if non_2xx else 0) == 0,
        "every_worker_killed": killed == before and len(before) > 0,
        "as_many_new_workers": len(respawned) == len(before) and not killed & respawned,
        "calls_answered_after": answered == asked > 0,
        "probes_answered_after": all(ok == total > 0 for ok, total in probes.values()),
    }
    held = all(checks.values())
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "procfile_web": loopback(procfile_web()),
        "wrk": f"{' '.join(command)}, signed POST /voice",
        "kill_at_s": round(args.seconds / 3, 1),
        "workers_before": sorted(before),
        "workers_killed": sorted(killed),
        "workers_after": sorted(respawned),
        "requests": int(requests.group(1)) if requests else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "lost_with_the_killed_workers": lost,
        "errors": {"connect": connect, "read": read, "write": write, "timeout": timeout},
        "after_the_kill": {
            "signed_calls": {"asked": asked, "answered_200_within_15_s": answered},
            "probes_answered": {path: {"answered": ok, "asked": total} for path, (ok, total) in probes.items()},
        },
        "checks": checks,
        "held": held,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"  {'PASS' if held else 'FAIL'}  no error answer, workers replaced, every call answered after the kill")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
