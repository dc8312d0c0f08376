"""python -m local_runner --stage dev --port 3000"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from local_runner.runner import (
    LocalRunner,
    Options,
    StopRequest,
    configure_logging,
    run_until_stopped,
)
from local_runner.synth import PROJECT, SynthError, synthesize
from local_runner.template import TemplateError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner",
        description="Run the synthesized stack locally: API Gateway, Lambda, S3 and SQS "
        "(moto), no AWS account and no Docker.",
    )
    parser.add_argument(
        "--stage",
        default=os.environ.get("STAGE", "dev"),
        help="stage to synthesize and run (default: dev)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "3000")),
        help="API port on 127.0.0.1; 0 binds a free one, which the banner and --state-file "
        "tell (default: 3000)",
    )
    parser.add_argument(
        "--assembly",
        type=Path,
        default=None,
        help="serve this already synthesized cdk.out folder instead of synthesizing the stage",
    )
    parser.add_argument(
        "--stack", default=None, help="stack to serve when the assembly holds several"
    )
    parser.add_argument(
        "--visibility-timeout-override",
        type=int,
        metavar="SECONDS",
        default=_int_env("LOCAL_VISIBILITY_TIMEOUT"),
        help="give every queue this visibility timeout instead of the template's (tests use "
        "it so retries and the DLQ take seconds, not minutes); env LOCAL_VISIBILITY_TIMEOUT",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LOCAL_API_KEY"),
        help="API key to accept where the template requires one (default: a "
        "random key, printed at startup); env LOCAL_API_KEY",
    )
    parser.add_argument(
        "--max-instances",
        type=int,
        default=6,
        help="warm instances per API function at most (default: 6)",
    )
    parser.add_argument(
        "--allow-unknown-resources",
        action="store_true",
        help="start even if the template has resource types the runner does "
        "not emulate (they are listed and left out)",
    )
    parser.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="start no instance before the first request",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="write the URL, site URL, API key, moto endpoint, bucket and table names and queue"
        " URLs there as JSON once ready, and remove it on stopping (for scripts and tests)",
    )
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        type=parse_user,
        metavar="EMAIL:PASSWORD",
        default=[],
        help="create this confirmed user in the stack's user pool (repeatable); the password "
        "must meet the pool's policy; env LOCAL_USER (one user)",
    )
    parser.add_argument(
        "--fault-plan",
        type=Path,
        default=None,
        metavar="FILE",
        help="kill or hang function instances at the AWS calls this JSON file names, re-read "
        "whenever it changes (for fault tests; see local_runner/faults.py)",
    )
    args = parser.parse_args(argv)
    if os.environ.get("LOCAL_USER"):
        try:
            args.users.insert(0, parse_user(os.environ["LOCAL_USER"]))
        except argparse.ArgumentTypeError as error:
            parser.error(f"LOCAL_USER: {error}")
    return args


def parse_user(value: str) -> tuple[str, str]:
    """`email:password` -> (email, password); the password may hold colons."""
    email, _, password = value.partition(":")
    if "@" not in email or not password:
        raise argparse.ArgumentTypeError(f"{value!r} is not EMAIL:PASSWORD")
    return email.strip(), password


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    started = time.monotonic()
    stop = StopRequest()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.requested = True

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.assembly is None:
            out_dir = PROJECT / "cdk.out" / f"local-{args.stage}"
            print(f"Synthesizing stage {args.stage!r} into {out_dir} ...", flush=True)
            assembly = synthesize(args.stage, out_dir)
            note = f"(synthesized in {time.monotonic() - started:.1f} s; layers not bundled)"
        else:
            assembly, note = args.assembly, "(given with --assembly)"
        options = Options(
            assembly=assembly,
            port=args.port,
            stack=args.stack,
            visibility_timeout_override=args.visibility_timeout_override,
            api_key=args.api_key,
            allow_unknown=args.allow_unknown_resources,
            max_instances=args.max_instances,
            warm=args.warm,
            state_file=args.state_file,
            fault_plan=args.fault_plan,
            users=tuple(args.users),
        )
        run_until_stopped(LocalRunner(options), stop, note, started)
    except (SynthError, TemplateError) as error:
        print(f"local runner: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
