"""python -m loadtest [--uploads 500] [--clients 20] [--out results.json]

Starts the local runner on the synthesized dev stage (127.0.0.1, a port it picks), runs the
load (uploads mixed with feed pages, look-ups and deletions), stops the runner as Ctrl-C
does, prints the figures as JSON and exits non-zero if any request got a 5xx, an upload was
refused or a deletion failed, any kept image lacks its thumbnails, anything of a deleted one
is left, anything is left in the queue or the DLQ, or the runner did not stop cleanly.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from loadtest.load import run
from local_runner import harness
from local_runner.synth import synthesize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--assembly",
        type=Path,
        default=None,
        help="serve this already synthesized dev stage (a cdk.out folder) instead of "
        "synthesizing it",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the runner's log (and the synthesized stage); default: a new "
        "temporary folder, kept, since the log is what explains a failed run",
    )
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(f"[load] {line}", file=sys.stderr, flush=True)

    work = args.work or Path(tempfile.mkdtemp(prefix="loadtest-"))
    work.mkdir(parents=True, exist_ok=True)
    assembly = args.assembly
    if assembly is None:
        say("synthesizing the dev stage ...")
        assembly = synthesize("dev", work / "assembly")
    say(f"starting the local runner (log: {work / 'runner.log'}) ...")
    with harness.start("--assembly", str(assembly), log=work / "runner.log") as service:
        say(f"{args.uploads} uploads from {args.clients} clients to {service.url}")
        started = time.monotonic()
        report = run(service, args.uploads, args.clients, args.settle_timeout, say)
        say(f"done in {time.monotonic() - started:.1f} s")
        report.runner_exit_status = service.stop()
    summary = report.summary()
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = (
        summary["server_errors"] == 0
        and summary["statuses"] == {201: args.uploads}
        and set(summary["other_statuses"].get("delete", {})) <= {204}
        and summary["end_state_violations"] == []
        and summary["thumbnails_missing"] == 0
        and summary["final_queue_and_dlq_depth"] == [0, 0]
        and summary["runner_exit_status"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
