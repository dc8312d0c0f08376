"""Fault plans: the runner strikes exactly the invocation and the AWS call a plan names."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_runner.faults import FaultPlan, FaultPlanError, parse_plan
from local_runner.lambdas import FunctionPool, InvocationError, function_environment
from local_runner.template import Service
from tests.local_runner.conftest import LOCAL

HANDLER = "handlers.aws_calls"


def kill_at(call: str = "s3.ListBuckets", occurrence: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "function": HANDLER,
        "invocation": 1,
        "call": call,
        "occurrence": occurrence,
        "action": "kill",
        **extra,
    }


def arm(path: Path, plan_id: str, *faults: dict[str, Any]) -> None:
    path.write_text(json.dumps({"id": plan_id, "faults": list(faults)}))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"invocation": 0}, "invocation"),
        ({"invocation": "sometimes"}, "invocation"),
        ({"occurrence": True}, "occurrence"),
        ({"call": "ListBuckets"}, "call"),
        ({"action": "pause"}, "action"),
        ({"function": ""}, "function"),
    ],
)
def test_a_plan_that_says_nothing_exact_is_refused(fault: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultPlanError, match=message):
        parse_plan({"id": "p", "faults": [kill_at(**fault)]})


def test_invocations_are_counted_per_function_from_the_arming(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    plan = FaultPlan(path)
    assert plan.next_invocation(HANDLER) is None  # no file yet: nothing planned
    arm(path, "second", kill_at(invocation=2))
    strikes = [plan.next_invocation(HANDLER) for _ in range(3)]
    assert [s and s["invocation"] for s in strikes] == [None, 2, None]
    assert plan.next_invocation("other.handler") is None

    arm(path, "every", kill_at(invocation="every"))  # a new plan counts from 1 again
    assert [plan.next_invocation(HANDLER)["invocation"] for _ in range(2)] == [1, 2]  # type: ignore[index]


def test_a_broken_plan_strikes_nothing_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with caplog.at_level(logging.ERROR, logger="local_runner"):
        assert FaultPlan(path).next_invocation(HANDLER) is None
    assert "fault plan" in caplog.text
    assert "ignored" in caplog.text


@pytest.fixture
def planned_pool(fixture_service: Service, tmp_path: Path) -> Iterator[tuple[FunctionPool, Path]]:
    path = tmp_path / "plan.json"
    function = fixture_service.functions["Calls"]
    pool = FunctionPool(
        function, function_environment(function, LOCAL, {}, fault_plan=True), 1, FaultPlan(path)
    )
    yield pool, path
    pool.close()


def test_a_planned_kill_strikes_at_its_call_of_its_invocation(
    planned_pool: tuple[FunctionPool, Path], caplog: pytest.LogCaptureFixture
) -> None:
    pool, path = planned_pool
    arm(path, "kill-second-call", kill_at(invocation=2, occurrence=2))
    with caplog.at_level(logging.INFO, logger="local_runner"):
        assert pool.invoke({"calls": 3})["body"] == "made every call"  # invocation 1: spared
        with pytest.raises(InvocationError) as raised:
            pool.invoke({"calls": 3})
        assert raised.value.error_type == "Runtime.ExitError"
        assert pool.invoke({"calls": 3})["body"] == "made every call"  # a fresh instance
    outcomes = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("fault kill-second-call:")
    ]
    assert outcomes == [
        "fault kill-second-call: Calls#1 invocation 2 struck: kill at s3.ListBuckets #2"
        " (Runtime.ExitError)"
    ]


def test_a_planned_hang_lasts_until_the_timeout(
    planned_pool: tuple[FunctionPool, Path], caplog: pytest.LogCaptureFixture
) -> None:
    pool, path = planned_pool
    arm(path, "hang-first-call", kill_at(occurrence=1, action="hang"))
    with caplog.at_level(logging.INFO, logger="local_runner"):
        with pytest.raises(InvocationError) as raised:
            pool.invoke({"calls": 1}, timeout_s=1)
        assert raised.value.error_type == "Sandbox.Timedout"
    assert "struck: hang at s3.ListBuckets #1 (Sandbox.Timedout)" in caplog.text


def test_a_call_the_invocation_never_makes_is_reported_missed(
    planned_pool: tuple[FunctionPool, Path], caplog: pytest.LogCaptureFixture
) -> None:
    pool, path = planned_pool
    arm(path, "too-far", kill_at(occurrence=5))
    with caplog.at_level(logging.INFO, logger="local_runner"):
        assert pool.invoke({"calls": 2})["body"] == "made every call"
    assert "fault too-far: Calls#1 invocation 1 missed: the invocation ended before" in caplog.text
