#!/usr/bin/env python3
"""Cold-process wall time of `python generate.py`, without and with cfn-lint.

    python bench/generate.py [--runs N]

Each run is a fresh interpreter (what a user and CI pay). Prints the median
and the spread of N runs for both, against the targets (0.5 s and 3 s).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"--no-lint": 0.5, "with lint": 3.0}


def timed(args: list[str], out: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "generate.py"), "--out", out, *args],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as out:
        timed(["--no-lint"], out)  # warm the page cache and __pycache__ once
        print(f"python generate.py, {runs} cold processes each")
        for label, args in (("--no-lint", ["--no-lint"]), ("with lint", [])):
            times = sorted(timed(args, out) for _ in range(runs))
            median = statistics.median(times)
            verdict = "meets" if median < TARGETS[label] else "MISSES"
            print(f"  {label:<10} median {median:.3f} s  (min {times[0]:.3f}, max {times[-1]:.3f})  "
                  f"target < {TARGETS[label]} s: {verdict}")


if __name__ == "__main__":
    main()
