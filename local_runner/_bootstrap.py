"""The inside of one local Lambda instance (a worker process); standard library only.

Started as `python -P _bootstrap.py` with the function's environment and its code folder as
working directory. It imports the handler once (module globals then persist between
invocations, like a warm container) and serves invocations from the runner: each request
and response is a 4-byte big-endian length followed by JSON, over stdin/stdout. The
handler's own prints go to stderr, which the runner prefixes with the function's name.

Under a fault plan (`local_runner.faults`), an invocation may carry a strike: this process
counts its own AWS calls with a botocore event hook and kills or stops itself just before
the planned one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, BinaryIO


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = os.environ["_LOCAL_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request_id
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _LayerBlocker(importlib.abc.MetaPathFinder):
    """Refuses packages that only a layer this function does not have would provide.

    The venv holds every layer's packages at once; without this, a function could import
    Pillow locally and fail in AWS because its layer list lacks the Pillow layer.
    """

    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".", 1)[0] in self.blocked:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (only a layer this function does not use has it)",
                name=fullname,
            )
        return None


class _Saboteur:
    """Counts this instance's AWS calls and strikes as the current invocation's fault says.

    The hook sits on boto3's default session before the handler is imported, so every client
    the handler makes (at import or later) carries it."""

    def __init__(self) -> None:
        self.fault: dict[str, Any] | None = None
        self.calls = 0
        import boto3  # only under a fault plan: the stand-in runtime is otherwise stdlib-only

        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", self._before_call)

    def arm(self, fault: dict[str, Any] | None) -> None:
        self.fault, self.calls = fault, 0

    def _before_call(self, event_name: str, **_: Any) -> None:
        fault = self.fault
        if fault is None or event_name != f"before-call.{fault['call']}":
            return
        self.calls += 1
        if self.calls < fault["occurrence"]:
            return
        note = (
            f"FAULT {fault['plan']}: {fault['action']} at {fault['call']} "
            f"#{fault['occurrence']} of invocation {fault['invocation']}\n"
        )
        os.write(2, note.encode())  # unbuffered: it reaches the runner before the signal
        os.kill(os.getpid(), signal.SIGKILL if fault["action"] == "kill" else signal.SIGSTOP)


def _send(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()  # raises before writing anything
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()


def _receive(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(4)
    if len(header) < 4:
        return None  # the runner has gone: so does this instance
    data = stream.read(int.from_bytes(header, "big"))
    message: dict[str, Any] = json.loads(data)
    return message


def _error(error_type: str, error: BaseException) -> dict[str, Any]:
    return {
        "errorType": error_type,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }


def main() -> None:
    # Keep the protocol on a private copy of stdout; the handler's prints go to stderr.
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    protocol_in = sys.stdin.buffer

    sys.path.insert(0, os.getcwd())  # the code folder, like /var/task
    for extra in filter(None, os.environ.pop("_LOCAL_LAYER_PATHS", "").split(os.pathsep)):
        sys.path.insert(1, extra)
    blocked = set(filter(None, os.environ.pop("_LOCAL_BLOCKED_MODULES", "").split(",")))
    if blocked:
        sys.meta_path.insert(0, _LayerBlocker(blocked))

    saboteur = _Saboteur() if os.environ.pop("_LOCAL_FAULTS", "") else None

    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    init_error: dict[str, Any] | None = None
    handler: Any = None
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except ImportError as error:
        init_error = _error("Runtime.ImportModuleError", error)
    except AttributeError as error:
        init_error = _error("Runtime.HandlerNotFound", error)
    except Exception as error:
        init_error = _error(type(error).__name__, error)
    if init_error:
        print(f"INIT_REPORT Init Error: {init_error['errorMessage']}", file=sys.stderr)
    _send(protocol_out, {"ready": init_error is None})

    while (request := _receive(protocol_in)) is not None:
        if init_error is not None:
            _send(protocol_out, {"error": init_error})
            continue
        context = LambdaContext(request["request_id"], request["deadline_ms"])
        if saboteur is not None:
            saboteur.arm(request.get("fault"))
        try:
            result = handler(request["event"], context)
        except Exception as error:
            traceback.print_exception(error)
            _send(protocol_out, {"error": _error(type(error).__name__, error)})
            continue
        try:
            _send(protocol_out, {"result": result})
        except (TypeError, ValueError) as error:  # not JSON-serializable
            _send(protocol_out, {"error": _error("Runtime.MarshalError", error)})


if __name__ == "__main__":
    main()
