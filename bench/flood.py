"""Flood benchmark: what an unsigned flood costs signed calls, on the Procfile's own process.

    python bench/flood.py [--seconds 8] [--rounds 3] [--rate 30]

Starts the Procfile's ``web:`` line (bound to 127.0.0.1, two workers) and, in each round,
times signed calls (four callers, one call after another) for ``--seconds``: alone; while an
unsigned flood sends ``--rate`` requests a second of 62 kB bodies with 8,000 fields; and, for
reference, while the same flood carries a forged X-Twilio-Signature (then the body is read and
its fields counted: more than 200 is not Twilio's, and is refused unparsed). Target: the unsigned flood raises the signed
calls' p99 by less than 50 ms (median over the rounds of each round's difference). Prints
the figures, writes bench/results/flood.json, exits 1 when the target is missed. Stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port, loopback, procfile_web  # noqa: E402 - after the path set-up
from ivr.security import sign  # noqa: E402

TARGET_P99_INCREASE_MS = 50.0
CALLERS = 4
FLOOD_BODY = urlencode([(f"f{i}", "x") for i in range(8000)]).encode()  # 62 kB, 8,000 fields
CALL = {
    "CallSid": "CA" + "0" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+32470000000",
    "To": "+3225550100",
    "CallStatus": "in-progress",
    "Direction": "inbound",
}


def signed_calls(port: int, token: str, base: str, seconds: float) -> tuple[list[float], int]:
    """Latencies (ms) of signed calls by CALLERS callers for ``seconds``, and the count of errors."""
    body = urlencode(CALL).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(token, base + "/voice", CALL),
        "Connection": "close",
    }
    latencies: list[float] = []
    errors = [0]
    until = time.monotonic() + seconds

    def caller() -> None:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                connection.request("POST", "/voice", body, headers)
                answer = connection.getresponse()
                answer.read()
                connection.close()
                if answer.status != 200:
                    errors[0] += 1
                    continue
            except OSError:
                errors[0] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def flood(port: int, rate: float, seconds: float, signature: str | None, counts: list[int]) -> None:
    """``rate`` requests a second of FLOOD_BODY, each on its own connection, for ``seconds``."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    start = time.monotonic()
    sent = 0

    def one() -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            connection.request("POST", "/voice", FLOOD_BODY, headers)
            answer = connection.getresponse()
            answer.read()
            connection.close()
            counts.append(answer.status)
        except OSError:
            counts.append(0)

    while (elapsed := time.monotonic() - start) < seconds:
        if sent < elapsed * rate:
            threading.Thread(target=one, daemon=True).start()
            sent += 1
        else:
            time.sleep(0.002)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=30.0, help="flood requests per second (default 30)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flood.json")
    args = parser.parse_args()

    token, port = secrets.token_hex(16), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "IVR_"))}
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2", "TWILIO_AUTH_TOKEN": token, "IVR_PUBLIC_URL": base}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = loopback(procfile_web())
    print(f"Procfile web line (bound to 127.0.0.1): {command}", flush=True)
    server = subprocess.Popen(
        ["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    rounds: list[dict[str, float]] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as health:
                    health.read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the Procfile's web line did not start") from None
                time.sleep(0.1)
        signed_calls(port, token, base, 1.0)  # warm up
        for number in range(args.rounds):
            figures: dict[str, float] = {}
            for phase, signature in (("quiet", None), ("unsigned flood", None), ("forged-signature flood", "forged")):
                counts: list[int] = []
                flooder = None
                if phase != "quiet":
                    flooder = threading.Thread(target=flood, args=(port, args.rate, args.seconds, signature, counts))
                    flooder.start()
                latencies, errors = signed_calls(port, token, base, args.seconds)
                if flooder is not None:
                    flooder.join()
                    time.sleep(0.5)  # the last flood requests finish
                figures[f"{phase} p50_ms"] = round(statistics.median(latencies), 2)
                figures[f"{phase} p99_ms"] = round(p99(latencies), 2)
                figures[f"{phase} calls"] = len(latencies)
                figures[f"{phase} errors"] = errors
                figures[f"{phase} flood_refused"] = sum(1 for status in counts if status in (403, 413))
                figures[f"{phase} flood_sent"] = len(counts)
            figures["unsigned p99 increase_ms"] = round(figures["unsigned flood p99_ms"] - figures["quiet p99_ms"], 2)
            figures["forged p99 increase_ms"] = round(figures["forged-signature flood p99_ms"] - figures["quiet p99_ms"], 2)
            rounds.append(figures)
            print(f"round {number + 1}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)

    increase = statistics.median(r["unsigned p99 increase_ms"] for r in rounds)
    forged = statistics.median(r["forged p99 increase_ms"] for r in rounds)
    errors = sum(r[f"{phase} errors"] for r in rounds for phase in ("quiet", "unsigned flood", "forged-signature flood"))
    ok = increase < TARGET_P99_INCREASE_MS and errors == 0
    result = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "procfile_web": command,
        "rate_per_s": args.rate,
        "body_bytes": len(FLOOD_BODY),
        "rounds": rounds,
        "unsigned_p99_increase_ms_median": increase,
        "forged_p99_increase_ms_median": forged,
        "target_ms": TARGET_P99_INCREASE_MS,
        "met": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nunsigned flood of {args.rate:g}/s ({len(FLOOD_BODY)} B, 8,000 fields): signed calls' p99 +{increase:.1f} ms")
    print(f"same flood with a forged signature header (body read, fields counted): p99 +{forged:.1f} ms (for reference)")
    print(f"  {'PASS' if ok else 'FAIL'}  unsigned flood raises p99 by < {TARGET_P99_INCREASE_MS:g} ms, no signed call failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
