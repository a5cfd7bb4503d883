"""Start-up benchmark: how long ``ivr --help`` and ``import ivr.cli`` take, and what they import.

    python bench/cli_startup.py [--runs 20] [--out bench/results/cli-startup.json]

Runs each command ``--runs`` times in a fresh interpreter (the venv's own ``ivr`` script, as a
person types it) and takes the median wall time; then once under ``python -X importtime`` to
list the top-level packages that cost the most. Target: ``ivr --help`` under 0.3 s, without
Flask, twilio, SQLAlchemy or prometheus_client. Prints the figures, writes the JSON file,
exits 1 when the target is missed. Not a timed test: a shared machine's figures vary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_HELP_S = 0.3
HEAVY = ("flask", "werkzeug", "twilio", "sqlalchemy", "prometheus_client", "yaml", "gtts", "requests")
PYTHON = sys.executable
IVR = str(Path(PYTHON).with_name("ivr"))  # the console script pip made, next to this interpreter


def wall_times(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
    }


def import_times(code: str) -> tuple[list[dict[str, object]], list[str]]:
    """The top-level packages ``code`` imports, costliest first (the sum of their modules' own µs), and the heavy ones."""
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    packages: dict[str, int] = {}
    for line in done.stderr.splitlines():
        # "import time:       self [us] |  cumulative | imported package", one line per module, nested ones indented
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        packages[top] = packages.get(top, 0) + int(own)
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    top_rows: list[dict[str, object]] = [{"package": name, "own_ms": round(us / 1000, 1)} for name, us in ranked[:12]]
    return top_rows, sorted(name for name in packages if name in HEAVY)


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "ivr"], cwd=ROOT, capture_output=True, text=True, check=False)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli-startup.json")
    args = parser.parse_args()

    wall_times([IVR, "--help"], 2)  # warm the file cache and the bytecode cache
    help_times = wall_times([IVR, "--help"], args.runs)
    import_cli = wall_times([PYTHON, "-c", "import ivr.cli"], args.runs)
    bare = wall_times([PYTHON, "-c", "pass"], args.runs)
    top, heavy = import_times("from ivr.cli import main; main(['--help'])")
    result = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "runs": args.runs,
        "ivr --help": summary(help_times),
        "python -c 'import ivr.cli'": summary(import_cli),
        "python -c 'pass'": summary(bare),
        "ivr --help imports (top level, -X importtime)": top,
        "ivr --help imports of the heavy libraries": heavy,
        "target_help_s": TARGET_HELP_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    median = result["ivr --help"]["median_s"]  # type: ignore[index]
    print(f"ivr --help: median {median:.3f} s over {args.runs} runs (target < {TARGET_HELP_S} s)")
    print(f"import ivr.cli: median {statistics.median(import_cli):.3f} s; bare interpreter {statistics.median(bare):.3f} s")
    print("costliest imports:", ", ".join(f"{row['package']} {row['own_ms']} ms" for row in top[:6]))
    print("heavy libraries imported:", ", ".join(heavy) or "none")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if median < TARGET_HELP_S and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
