#!/usr/bin/env python3
"""Cold-process wall time of `python generate.py`, without and with cfn-lint.

    python bench/generate.py [--runs N]

Each run is a fresh interpreter (what a user and CI pay). With lint, two
cases: templates never linted before (no lint cache: a fresh checkout, CI, a
template change) and templates unchanged since the last run (cache hit: cfn-lint
is not even imported). Prints the median and spread of N runs against the
targets (0.5 s without lint, 3 s with).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generate import LINT_CACHE  # noqa: E402

CASES = (  # label, generate.py arguments, drop the lint cache before each run, target
    ("--no-lint", ["--no-lint"], False, 0.5),
    ("lint, new templates", [], True, 3.0),
    ("lint, unchanged", [], False, 3.0),
)


def timed(args: list[str], out: Path, cold_cache: bool) -> float:
    if cold_cache:
        (out / LINT_CACHE).unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "generate.py"), "--out", str(out), *args],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        timed([], out, cold_cache=True)  # warm the page cache and __pycache__ once
        print(f"python generate.py, {runs} cold processes each")
        for label, args, cold_cache, target in CASES:
            times = sorted(timed(args, out, cold_cache) for _ in range(runs))
            median = statistics.median(times)
            verdict = "meets" if median < target else "MISSES"
            print(f"  {label:<20} median {median:.3f} s  (min {times[0]:.3f}, max {times[-1]:.3f})  "
                  f"target < {target} s: {verdict}")


if __name__ == "__main__":
    main()
