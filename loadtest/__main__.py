"""python -m loadtest [--uploads 500] [--clients 20] [--out results.json]

Starts the local runner on the synthesized dev stage (127.0.0.1, a free port), runs the
load, prints the figures as JSON and exits non-zero if any upload got a 5xx, any thumbnail
is missing, or anything is left in the queue or the DLQ.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from loadtest.load import run
from local_runner.synth import synthesize
from tests.hostile.local_service import running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(f"[load] {line}", file=sys.stderr, flush=True)

    # Kept on purpose: the runner's log is what explains a failed run.
    work = Path(tempfile.mkdtemp(prefix="loadtest-"))
    say("synthesizing the dev stage ...")
    assembly = synthesize("dev", work / "assembly")
    say(f"starting the local runner (log: {work / 'runner.log'}) ...")
    with running(assembly, work / "runner.log") as service:
        say(f"{args.uploads} uploads from {args.clients} clients to {service.url}")
        started = time.monotonic()
        report = run(service, args.uploads, args.clients, args.settle_timeout, say)
        say(f"done in {time.monotonic() - started:.1f} s")
    summary = report.summary()
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = (
        summary["server_errors"] == 0
        and summary["statuses"] == {201: args.uploads}
        and summary["thumbnails_missing"] == 0
        and summary["final_queue_and_dlq_depth"] == [0, 0]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
