"""local_runner.harness: what a script that starts the runner sees when something is wrong.

Starting it for real, and using what it serves, is what every test in tests/e2e, tests/hostile,
tests/faults and tests/access does."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local_runner import harness
from local_runner.__main__ import parse_args, parse_user
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY


def finished(state: dict[str, object], tmp_path: Path) -> harness.RunnerProcess:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return harness.RunnerProcess(process, tmp_path / "runner.log", state)


def test_resources_are_found_by_logical_id_prefix(tmp_path: Path) -> None:
    runner = finished(
        {"queues": {"JobsQueue1A2B": "http://q/jobs", "JobsDeadLetters9F": "http://q/dlq"}},
        tmp_path,
    )
    assert runner.resource("queues", "JobsQueue") == "http://q/jobs"
    assert runner.resource("queues", "JobsDead") == "http://q/dlq"
    with pytest.raises(LookupError, match=r"2 queues .*'Jobs'.*JobsDeadLetters9F, JobsQueue1A2B"):
        runner.resource("queues", "Jobs")
    with pytest.raises(LookupError, match=r"0 tables .*none"):
        runner.resource("tables", "Catalogue")


def test_poll_returns_the_first_truthy_value_or_names_what_it_waited_for() -> None:
    answers = iter([None, 0, "ready"])
    assert harness.poll(lambda: next(answers), 5, "an answer", every_s=0.01) == "ready"
    with pytest.raises(TimeoutError, match="waiting for the impossible"):
        harness.poll(lambda: None, 0.05, "the impossible", every_s=0.01)


def test_a_test_not_marked_slow_cannot_start_the_runner(tmp_path: Path) -> None:
    started: list[harness.RunnerProcess] = []
    try:
        with pytest.raises(harness.RunnerError, match="cannot_start_the_runner is not marked slow"):
            started.append(harness.start("--assembly", str(FIXTURE_ASSEMBLY), log=tmp_path / "r"))
    finally:
        for runner in started:  # only if the guard failed
            runner.stop()


@pytest.mark.slow
def test_a_runner_that_exits_is_reported_with_its_status_and_log(tmp_path: Path) -> None:
    with pytest.raises(harness.RunnerError, match=r"status 2:\n.*missing is not a synthesized"):
        harness.start("--assembly", str(tmp_path / "missing"), log=tmp_path / "runner.log")


@pytest.mark.slow
def test_a_taken_port_asked_for_is_refused_with_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(harness.RunnerError, match=rf"port {port} on 127.0.0.1 is taken"):
            harness.start(
                "--assembly", str(FIXTURE_ASSEMBLY), "--port", str(port), log=tmp_path / "r.log"
            )


def test_a_stack_without_a_user_pool_has_no_accounts(tmp_path: Path) -> None:
    runner = finished({"accounts": None}, tmp_path)
    assert runner.accounts is None
    with pytest.raises(harness.RunnerError, match="no user pool"):
        runner.id_token("ada@example.com", "x")


def test_users_are_given_as_email_and_password() -> None:
    args = parse_args(["--user", "ada@example.com:pass:word", "--user=bob@example.com:x"])
    assert args.users == [("ada@example.com", "pass:word"), ("bob@example.com", "x")]
    for wrong in ("ada@example.com", "ada:secret", "ada@example.com:"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_user(wrong)
