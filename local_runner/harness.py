"""Start the local runner as a process of its own and reach what it serves, from Python.

The tests, the benchmarks and the load test start the runner through this module, and so can
your own scripts::

    from pathlib import Path

    import requests
    from local_runner import harness

    with harness.start("--stage", "dev", log=Path("runner.log")) as runner:
        answer = requests.post(
            f"{runner.url}/upload",
            data=Path("photo.jpg").read_bytes(),
            headers={"Content-Type": "image/jpeg"},
            timeout=30,
        )
        bucket = runner.resource("buckets", "StorageImages")
        harness.poll(
            lambda: harness.object_keys(runner.client("s3"), bucket, "thumbnails/"),
            60,
            "a thumbnail",
        )

`start` runs `python -m local_runner --port 0 --state-file ... <args>`: the runner binds a
free port on 127.0.0.1 itself (no race for a port picked beforehand), writes its output to
`log`, and `start` returns once it serves, with what its state file tells (URL, API key, moto
endpoint, buckets, tables and queues by logical id, the user pool and its sign-in stand-in).
With `--user EMAIL:PASSWORD` among the arguments, `runner.id_token(email, password)` signs
that user in and gives the ID token for an `Authorization` header. It runs in a session of its own;
`stop()`, or leaving the `with` block (also on an exception), sends SIGINT as Ctrl-C does, so
the runner stops its function instances and its emulator, and kills it if it has not stopped
in time.
Whoever starts a runner stops it: it does not notice its parent exiting.

Everything stays on this machine: the runner serves on 127.0.0.1, and `client()` only ever
talks to its moto server, with moto's fake credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from local_runner.emulator import local_client
from local_runner.synth import PROJECT

START_TIMEOUT_S = 180.0  # with --stage, the runner synthesizes the app before it serves
STOP_TIMEOUT_S = 30.0
# When set (to a reason), `start` refuses with that reason; child processes inherit it. The
# test suite sets it around the tests that must not start a runner (those not marked slow).
REFUSE_ENV = "LOCAL_RUNNER_REFUSE_START"
QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
T = TypeVar("T")


class RunnerError(RuntimeError):
    """The runner could not be started: it exited, did not get ready in time, or was refused."""


class RunnerProcess:
    """A started `python -m local_runner` process and what it serves."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, state: dict[str, Any]) -> None:
        self.process = process
        self.log = log
        # What the runner's --state-file says: "url", "site_url", "api_key", "moto_endpoint",
        # one {logical id: name or URL} mapping per kind of resource ("buckets", "tables",
        # "queues"), and "accounts" (see `accounts`).
        self.state = state
        self._clients: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self.state["url"])

    @property
    def api_key(self) -> str | None:
        key = self.state["api_key"]
        return None if key is None else str(key)

    @property
    def moto_endpoint(self) -> str:
        return str(self.state["moto_endpoint"])

    @property
    def accounts(self) -> dict[str, Any] | None:
        """The stack's user pool: {"user_pool_id", "client_id", "sign_in_url"} (the
        sign-in stand-in's base URL), or None when the stack has none (accounts off)."""
        found: dict[str, Any] | None = self.state.get("accounts")
        return found

    def id_token(self, email: str, password: str) -> str:
        """An ID token of the user pool for `email` (a user seeded with `--user`, or one who
        signed up), from moto's InitiateAuth as a script would get one."""
        if not self.accounts or not self.accounts["client_id"]:
            raise RunnerError("this runner's stack has no user pool with an app client")
        answer = self.client("cognito-idp").initiate_auth(
            ClientId=self.accounts["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return str(answer["AuthenticationResult"]["IdToken"])

    def resource(self, kind: str, logical_id_prefix: str) -> str:
        """The name or URL of the one resource of `kind` whose logical id starts with
        `logical_id_prefix` (CDK appends a hash to the ids), e.g. `resource("buckets",
        "StorageImages")` or `resource("queues", "ProcessingQueue")`."""
        resources: dict[str, str] = self.state.get(kind, {})
        found = [value for lid, value in resources.items() if lid.startswith(logical_id_prefix)]
        if len(found) != 1:
            raise LookupError(
                f"{len(found)} {kind} with a logical id starting {logical_id_prefix!r};"
                f" the runner has: {', '.join(sorted(resources)) or 'none'}"
            )
        return found[0]

    def client(self, service: str) -> Any:
        """A boto3 client of the runner's moto server, as the runner's own (fake credentials,
        the local region)."""
        if service not in self._clients:
            self._clients[service] = local_client(self.moto_endpoint, service)
        return self._clients[service]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def arm_faults(self, plan_id: str, *faults: dict[str, Any]) -> None:
        """Replace the runner's fault plan (it must run with `--fault-plan FILE`): each fault
        as `local_runner.faults` describes it. Invocations are counted from here."""
        path = self.state.get("fault_plan")
        if not path:
            raise RunnerError("this runner was started without --fault-plan")
        staged = Path(f"{path}.new")  # renamed into place: the runner never reads half a plan
        staged.write_text(json.dumps({"id": plan_id, "faults": list(faults)}))
        staged.replace(path)

    def fault_outcomes(self, plan_id: str) -> list[str]:
        """What the runner logged for each invocation plan `plan_id` struck or missed, in
        order: `<Function>#<n> invocation <k> struck: ...` or `... missed: ...`."""
        prefix = f"fault {plan_id}: "
        return [
            line.split(prefix, 1)[1]
            for line in self.log_text().splitlines()
            if prefix in line and " invocation " in line
        ]

    def alive(self) -> bool:
        return self.process.poll() is None

    def function_pids(self, handler: str | None = None) -> list[int]:
        """The live function instance processes (of the function with `handler`, if given),
        read from /proc: the runner's child processes that have `_HANDLER` set."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.process.pid or fields[0] == "Z":
                    continue
                environ = (stat.parent / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            handlers = [item[9:].decode() for item in environ if item.startswith(b"_HANDLER=")]
            if handlers and handler in (None, handlers[0]):
                pids.append(int(stat.parent.name))
        return pids

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Stop the runner as Ctrl-C does (SIGINT to its process group), killing the group
        if it has not exited within `timeout_s`. Its exit status: 0 for a clean stop."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                # Every thread's stack into the log first, to explain the hang.
                _signal_group(self.process.pid, signal.SIGUSR1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=1)
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> RunnerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start(*args: str, log: Path, timeout_s: float = START_TIMEOUT_S) -> RunnerProcess:
    """`python -m local_runner --port 0 --state-file <log>.state.json *args`, its output in
    `log`, once it serves. `args` as on the command line, e.g. `("--stage", "prod")` or
    `("--assembly", "cdk.out/dev")`; a `--port N` among them pins the port.

    Raises RunnerError, with the end of the log, if the runner exits or is not ready within
    `timeout_s` (it is stopped then)."""
    refused = os.environ.get(REFUSE_ENV)
    if refused:
        raise RunnerError(f"refused to start the local runner: {refused}")
    state_file = log.with_suffix(".state.json")
    state_file.unlink(missing_ok=True)  # a stale one would read as ready at once
    command = [sys.executable, "-m", "local_runner", "--port", "0", "--state-file", str(state_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *args],
            cwd=PROJECT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
            start_new_session=True,  # its own process group: stop() signals all of it
        )
    runner = RunnerProcess(process, log, {})

    def ready() -> bool:
        if process.poll() is not None:
            raise RunnerError(
                f"the local runner exited with status {process.returncode}:\n{_tail(log)}"
            )
        return state_file.exists()

    try:
        poll(ready, timeout_s, "the local runner to serve")
    except TimeoutError as error:
        runner.stop()
        raise RunnerError(f"{error}:\n{_tail(log)}") from error
    except BaseException:  # Ctrl-C or a failed test while waiting: no runner left behind
        runner.stop()
        raise
    runner.state = json.loads(state_file.read_text())
    return runner


def poll(check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """`check()`'s first truthy value, tried every `every_s` seconds; TimeoutError naming
    `what` once `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def object_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every key in `bucket` under `prefix`, sorted (any S3 client: the runner's or moto's)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Every message the queue holds: visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNTS))
    return sum(int(value) for value in attributes["Attributes"].values())


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited
        os.killpg(pid, signum)


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]
