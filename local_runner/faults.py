"""Fault plans: a local Lambda instance killed or hung at an exact point, for fault tests.

A plan is a JSON file named with `--fault-plan`. The runner reads it again whenever it
changes, so a test arms a new plan in a running runner by rewriting the file::

    {"id": "kill-mid-batch",
     "faults": [{"function": "image_service.thumbnail_worker.handler",
                 "invocation": 1,
                 "call": "s3.GetObject", "occurrence": 3,
                 "action": "kill"}]}

Each fault names a function by its handler, which of its invocations it strikes (1 is the
first one that starts after the plan was armed; `"every"` strikes them all), and where in
that invocation: just before the function's `occurrence`-th call of the AWS operation
`call` (`<service>.<Operation>` as botocore names it) leaves the instance. Its `action` is
`kill` (SIGKILL, as an out-of-memory kill) or `hang` (SIGSTOP, until the function's timeout
cuts it off). An invocation the plan strikes is logged as `fault <id>: ...`, so a test can
assert that the fault struck where it said.

The strike happens inside the runner's own stand-in for the Lambda runtime (`_bootstrap`),
which counts the instance's AWS calls with a botocore event hook: the functions' code knows
nothing of it, and the same inputs strike at the same call on any machine, however loaded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("local_runner")

ACTIONS = ("kill", "hang")
EVERY = "every"
# What the runner sets in an instance's environment when it runs with a plan: the runtime
# stand-in then counts the instance's AWS calls. Without a plan, nothing is counted.
ENV = "_LOCAL_FAULTS"


class FaultPlanError(ValueError):
    """The plan file is not a valid plan; the message says what is wrong."""


@dataclass(frozen=True)
class Fault:
    function: str  # the handler, e.g. image_service.thumbnail_worker.handler
    invocation: int | None  # None: every invocation
    call: str  # e.g. s3.PutObject
    occurrence: int
    action: str

    def strike(self, plan_id: str, invocation: int) -> dict[str, Any]:
        """What the runner hands the instance with the invocation it strikes."""
        return {
            "plan": plan_id,
            "invocation": invocation,
            "call": self.call,
            "occurrence": self.occurrence,
            "action": self.action,
        }


def parse_plan(data: Any) -> tuple[str, tuple[Fault, ...]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise FaultPlanError('expected {"id": "<name>", "faults": [...]}')
    faults = data.get("faults")
    if not isinstance(faults, list):
        raise FaultPlanError("faults: expected a list")
    parsed = []
    for index, fault in enumerate(faults):
        where = f"faults[{index}]"
        if not isinstance(fault, Mapping):
            raise FaultPlanError(f"{where}: expected an object")
        function, call, action = fault.get("function"), fault.get("call"), fault.get("action")
        invocation: Any = fault.get("invocation")
        occurrence: Any = fault.get("occurrence", 1)
        if not isinstance(function, str) or not function:
            raise FaultPlanError(f"{where}.function: expected a handler name")
        if not isinstance(call, str) or call.count(".") != 1:
            raise FaultPlanError(f"{where}.call: expected <service>.<Operation>")
        if action not in ACTIONS:
            raise FaultPlanError(f"{where}.action: expected one of {', '.join(ACTIONS)}")
        if invocation != EVERY and not _positive(invocation):
            raise FaultPlanError(f"{where}.invocation: expected a number from 1, or {EVERY!r}")
        if not _positive(occurrence):
            raise FaultPlanError(f"{where}.occurrence: expected a number from 1")
        parsed.append(
            Fault(
                function=function,
                invocation=None if invocation == EVERY else int(invocation),
                call=call,
                occurrence=int(occurrence),
                action=str(action),
            )
        )
    return data["id"], tuple(parsed)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class FaultPlan:
    """The plan in `path`, re-read when the file changes; counts each function's invocations
    since the current plan was armed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._text: str | None = None
        self._id = ""
        self._faults: tuple[Fault, ...] = ()
        self._invocations: dict[str, int] = {}

    def _reload(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            text = ""
        if text == self._text:
            return
        self._text = text
        self._invocations = {}
        if not text.strip():
            self._id, self._faults = "", ()
            return
        try:
            self._id, self._faults = parse_plan(json.loads(text))
        except (ValueError, FaultPlanError) as error:
            # A broken plan strikes nothing, and says so where the test's log shows it.
            log.error("fault plan %s ignored: %s", self.path, error)
            self._id, self._faults = "", ()
            return
        log.info("fault plan %r armed: %d fault(s)", self._id, len(self._faults))

    def next_invocation(self, handler: str) -> dict[str, Any] | None:
        """Count one more invocation of `handler`; the strike it carries, if any."""
        with self._lock:
            self._reload()
            count = self._invocations.get(handler, 0) + 1
            self._invocations[handler] = count
            for fault in self._faults:
                if fault.function == handler and fault.invocation in (None, count):
                    return fault.strike(self._id, count)
            return None
