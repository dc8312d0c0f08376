"""The tests that wait on the local runner, the browser or the load test, run several rounds
in a row while every core is kept busy: a test that passes only on a quiet machine fails here.

    python -m tests.stress [--rounds 5] [pytest arguments ...]

One busy loop per core runs for the whole session, at the tests' own priority, so the
runner, its function instances and Chromium get about half the CPU they would alone. Each
round is a fresh pytest run; the summary gives every round's wall time and result, and the
exit status is 0 only if every round passed. The busy loops stop with the session, also on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Everything that starts the runner (with it the e2e, fault, hostile and load tests) or the
# browser: the tests whose outcome could depend on time. The CDK CLI, checkov and layer
# builds wait on nothing but themselves.
SUITES = (
    "tests/access",
    "tests/browser",
    "tests/e2e",
    "tests/faults",
    "tests/hostile",
    "tests/local_runner/test_harness.py",
)


def spin() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args, pytest_args = parser.parse_known_args(argv)
    cores = len(os.sched_getaffinity(0))
    loops = [multiprocessing.Process(target=spin, daemon=True) for _ in range(cores)]
    for loop in loops:
        loop.start()
    print(f"stress: {cores} busy loop(s) on {cores} core(s); {args.rounds} round(s)", flush=True)
    results: list[tuple[int, float]] = []
    try:
        for round_number in range(1, args.rounds + 1):
            print(f"\n=== stress round {round_number} of {args.rounds} ===", flush=True)
            started = time.monotonic()
            code = subprocess.call(
                [sys.executable, "-m", "pytest", "-m", "slow", *SUITES, *pytest_args],
                cwd=ROOT,
            )
            results.append((code, time.monotonic() - started))
    finally:
        for loop in loops:
            loop.terminate()
        for loop in loops:
            loop.join(timeout=5)
    print("\nstress summary (both cores busy):")
    for number, (code, seconds) in enumerate(results, 1):
        verdict = "passed" if code == 0 else f"FAILED (pytest exit {code})"
        print(f"  round {number}: {verdict} in {seconds / 60:.1f} min")
    failed = sum(1 for code, _ in results if code != 0)
    print(f"  {len(results) - failed} of {len(results)} rounds passed")
    return 0 if failed == 0 and len(results) == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
