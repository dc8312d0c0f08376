"""Local Lambda: warm worker processes per function, timeouts, crashes and concurrency."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local_runner import faults
from local_runner.emulator import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN
from local_runner.template import Function, LocalAws
from local_runner.tokens import local_jwks_url

log = logging.getLogger("local_runner")

BOOTSTRAP = Path(__file__).resolve().parent / "_bootstrap.py"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_SESSION_TOKEN": SESSION_TOKEN,
}
# How the runtime stand-in announces a planned fault, on stderr, just before it strikes.
FAULT_NOTE = "FAULT "
# How long a new instance may take to import its handler before the runner gives up on it.
INIT_TIMEOUT_S = 30.0


class InvocationError(Exception):
    """The invocation failed the way Lambda reports it: `errorType` and `errorMessage`."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class InvocationTimeout(InvocationError):
    pass


@dataclass(frozen=True)
class LayerContents:
    """How a layer's packages reach a local instance."""

    paths: tuple[str, ...]  # bundled `python/` folders to put on sys.path
    modules: frozenset[str]  # top-level modules the venv provides in the layer's place
    notes: tuple[str, ...]  # what the startup banner should say about it


def layer_contents(source: Path | None) -> LayerContents:
    """A bundled layer (a `python/` folder) is used as is; a requirements file is matched
    against the venv, which pins the same packages (mismatches are reported)."""
    if source is None:
        return LayerContents((), frozenset(), ("asset not found: nothing added",))
    if (source / "python").is_dir():
        return LayerContents((str(source / "python"),), frozenset(), (f"bundled: {source}",))
    requirements = source / "requirements.txt"
    if not requirements.is_file():
        return LayerContents((), frozenset(), (f"no python/ nor requirements.txt in {source}",))
    top_level = importlib.metadata.packages_distributions()
    modules: set[str] = set()
    notes = []
    for line in requirements.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#]+))?", line)
        if not match or line.lstrip().startswith(("#", "-")):
            continue
        name, pinned = match.group(1), match.group(2)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            notes.append(f"{name}: NOT installed in this venv (run `make setup`)")
            continue
        if pinned and installed != pinned:
            notes.append(f"{name}: venv has {installed}, the layer pins {pinned}")
        else:
            notes.append(f"{name} {installed} from the venv")
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        modules.update(
            module
            for module, dists in top_level.items()
            if any(re.sub(r"[-_.]+", "-", d).lower() == canonical for d in dists)
        )
    return LayerContents((), frozenset(modules), tuple(notes))


def function_environment(
    function: Function,
    local: LocalAws,
    layers: Mapping[str, LayerContents],
    fault_plan: bool = False,
) -> dict[str, str]:
    """The environment a Lambda instance of `function` sees, pointed at the emulator (and,
    under a fault plan, told to count its AWS calls)."""
    own = [layers[layer.logical_id] for layer in function.layers]
    provided = set().union(*(c.modules for c in own)) if own else set()
    blocked = set().union(*(c.modules for c in layers.values())) - provided if layers else set()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(function.code),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_s),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": local.region,
        "AWS_DEFAULT_REGION": local.region,
        "AWS_ENDPOINT_URL": local.endpoint,
        # No profile or config file of this machine may steer a local function to real AWS.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # No X-Ray daemon locally, whatever a template asks for.
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_XRAY_SDK_ENABLED": "false",
        **FAKE_CREDENTIALS,
        # A user pool's JWKS URL names the emulator, which serves it; the rest as written.
        **{name: local_jwks_url(value, local) for name, value in function.environment.items()},
        "_LOCAL_FUNCTION_ARN": function.arn,
        "_LOCAL_LAYER_PATHS": os.pathsep.join(p for c in own for p in c.paths),
        "_LOCAL_BLOCKED_MODULES": ",".join(sorted(blocked)),
    }
    if fault_plan:
        env[faults.ENV] = "1"
    return env


class Instance:
    """One warm worker process of a function."""

    def __init__(self, function: Function, env: Mapping[str, str], index: int) -> None:
        self.function = function
        self.label = f"{function.display_name}#{index}"
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(BOOTSTRAP)],
            cwd=function.code,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own session: Ctrl-C in the terminal reaches the runner, which stops the
            # instances itself; an instance also exits when the runner's pipe closes.
            start_new_session=True,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout_fd = self.process.stdout.fileno()
        self._buffer = b""
        self.struck: str | None = None  # what the runtime said as a planned fault struck
        self._log_thread = threading.Thread(
            target=self._forward_logs, args=(self.process.stderr,), daemon=True
        )
        self._log_thread.start()
        ready = self._read_message(time.monotonic() + INIT_TIMEOUT_S)
        if ready is None:
            self.kill()
            raise InvocationError("Runtime.InitError", f"{self.label} did not start in time")
        self.init_ok = bool(ready.get("ready"))

    def _forward_logs(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            text = line.decode(errors="replace").rstrip()
            if text.startswith(FAULT_NOTE):
                self.struck = text
            sys.stderr.write(f"  [{self.label}] {text}\n")

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        """The next framed message, or None at the deadline. EOF raises InvocationError."""
        while True:
            if len(self._buffer) >= 4:
                size = int.from_bytes(self._buffer[:4], "big")
                if len(self._buffer) >= 4 + size:
                    data, self._buffer = self._buffer[4 : 4 + size], self._buffer[4 + size :]
                    message: dict[str, Any] = json.loads(data)
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._stdout_fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._stdout_fd, 1 << 20)
            if not chunk:
                code = self.process.wait()
                raise InvocationError(
                    "Runtime.ExitError", f"RequestId: the instance exited with status {code}"
                )
            self._buffer += chunk

    def invoke(self, event: Any, timeout_s: float, fault: Mapping[str, Any] | None = None) -> Any:
        """The handler's result. Raises InvocationError / InvocationTimeout like Lambda.
        `fault`: the fault plan's strike for this invocation, if any."""
        request_id = str(uuid.uuid4())
        deadline = time.monotonic() + timeout_s
        request = {
            "event": event,
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
        }
        if fault is not None:
            request["fault"] = dict(fault)
        message = json.dumps(request).encode()
        try:
            self._stdin.write(len(message).to_bytes(4, "big") + message)
            self._stdin.flush()
        except BrokenPipeError as error:
            raise InvocationError("Runtime.ExitError", "the instance has exited") from error
        response = self._read_message(deadline)
        if response is None:
            raise InvocationTimeout(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
            )
        if "error" in response:
            failure = response["error"]
            raise InvocationError(
                failure.get("errorType", "Error"), failure.get("errorMessage", "")
            )
        return response.get("result")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_stop(self) -> None:
        """Kill the process group; a thread waiting on this instance then sees it exit."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Stop the instance and anything it started, and release its pipes."""
        self.signal_stop()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()
        self._log_thread.join(timeout=2)
        if self.process.stderr:
            self.process.stderr.close()


class FunctionPool:
    """Up to `max_instances` warm instances of one function, created on demand."""

    def __init__(
        self,
        function: Function,
        env: Mapping[str, str],
        max_instances: int,
        fault_plan: faults.FaultPlan | None = None,
    ) -> None:
        self.function = function
        self.env = env
        self.max_instances = max_instances
        self.fault_plan = fault_plan
        self._idle: list[Instance] = []
        self._all: set[Instance] = set()
        self._count = 0
        self._started = 0
        self._closed = False
        self._condition = threading.Condition()

    def _acquire(self) -> Instance:
        with self._condition:
            while True:
                if self._closed:
                    raise InvocationError("Runtime.Shutdown", "the runner is stopping")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.max_instances:
                    self._count += 1
                    self._started += 1
                    index = self._started
                    break
                self._condition.wait()
        try:
            instance = Instance(self.function, self.env, index)
        except BaseException:
            self._discard(None)
            raise
        with self._condition:
            self._all.add(instance)
            if self._closed:
                instance.signal_stop()
        return instance

    def _release(self, instance: Instance) -> None:
        with self._condition:
            if not self._closed:
                self._idle.append(instance)
                self._condition.notify()
                return
        self._discard(instance)

    def _discard(self, instance: Instance | None) -> None:
        if instance is not None:
            instance.kill()
        with self._condition:
            if instance is not None:
                self._all.discard(instance)
            self._count -= 1
            self._condition.notify()

    def invoke(self, event: Any, timeout_s: float | None = None) -> Any:
        """Run `event` through a warm instance; a timed-out or crashed one is replaced."""
        limit = self.function.timeout_s if timeout_s is None else timeout_s
        instance = self._acquire()
        fault = self.fault_plan.next_invocation(self.function.handler) if self.fault_plan else None
        try:
            result = instance.invoke(event, limit, fault)
        except InvocationTimeout as error:
            self._discard(instance)  # Lambda stops a timed-out instance; the next one is fresh
            self._report(fault, instance, error)
            raise
        except InvocationError as error:
            if instance.alive():
                self._release(instance)  # the handler raised: the instance stays warm
            else:
                self._discard(instance)  # it died: the next invocation starts a fresh one
            self._report(fault, instance, error)
            raise
        self._release(instance)
        self._report(fault, instance, None)
        return result

    def _report(
        self, fault: Mapping[str, Any] | None, instance: Instance, error: InvocationError | None
    ) -> None:
        """One line per invocation a fault was planned for: whether it struck. A struck
        instance has been discarded by now, so its last words have been read."""
        if fault is None:
            return
        where = f"{fault['call']} #{fault['occurrence']}"
        if instance.struck and error is not None:
            outcome = f"struck: {fault['action']} at {where} ({error.error_type})"
        else:
            outcome = f"missed: the invocation ended before {where}"
        log.info(
            "fault %s: %s invocation %d %s",
            fault["plan"],
            instance.label,
            fault["invocation"],
            outcome,
        )

    def warm_up(self) -> None:
        """Start one instance ahead of the first request (errors show up at invoke time)."""
        try:
            instance = self._acquire()
        except InvocationError as error:
            log.warning("%s: %s", self.function.display_name, error)
            return
        self._release(instance)

    def close(self) -> None:
        """Stop every instance: idle ones now, busy ones fail their invocation and go."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = self._all - set(idle)
            self._condition.notify_all()
        for instance in (*busy, *idle):
            instance.signal_stop()  # all at once; then reap the idle ones
        for instance in idle:
            self._discard(instance)


def start_pools(
    functions: Iterable[Function],
    local: LocalAws,
    layers: Mapping[str, LayerContents],
    max_instances: Mapping[str, int],
    fault_plan: faults.FaultPlan | None = None,
) -> dict[str, FunctionPool]:
    return {
        f.logical_id: FunctionPool(
            f,
            function_environment(f, local, layers, fault_plan=fault_plan is not None),
            max_instances[f.logical_id],
            fault_plan,
        )
        for f in functions
    }
