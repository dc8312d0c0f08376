"""The runner itself under failure and shutdown, on a tiny test-only stack.

The crashing handlers live in `tests/local_runner/fixture_assembly`, never in the product.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Runner, children_of, start_runner
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY
from tests.support import free_port


@pytest.fixture(scope="module")
def fixture_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    runner = start_runner(
        tmp_path_factory.mktemp("fixture-runner"),
        "--assembly",
        str(FIXTURE_ASSEMBLY),
        "--port",
        str(free_port()),
        "--api-key",
        "local-test-key",
    )
    yield runner
    assert runner.stop() == 0


@pytest.mark.parametrize("route", ["/boom", "/exit", "/malformed"])
def test_a_crashing_handler_is_502_and_the_runner_keeps_serving(
    fixture_runner: Runner, route: str
) -> None:
    response = requests.get(f"{fixture_runner.url}{route}", timeout=10)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    again = requests.get(f"{fixture_runner.url}/items/1", timeout=10)
    assert again.status_code == 200
    # The same crashing route is served again too (a dead instance was replaced).
    assert requests.get(f"{fixture_runner.url}{route}", timeout=10).status_code == 502


def test_the_function_timeout_is_enforced(fixture_runner: Runner) -> None:
    started = time.monotonic()
    response = requests.get(f"{fixture_runner.url}/slow", params={"s": "20"}, timeout=10)
    assert response.status_code == 502  # Lambda's timeout (1 s), under the 29 s of the API
    assert time.monotonic() - started < 5
    fast = requests.get(f"{fixture_runner.url}/slow", params={"s": "0"}, timeout=10)
    assert (fast.status_code, fast.text) == (200, "done")


def test_the_api_key_given_on_the_command_line_is_required(fixture_runner: Runner) -> None:
    assert requests.get(f"{fixture_runner.url}/secure", timeout=10).status_code == 403
    allowed = requests.get(
        f"{fixture_runner.url}/secure", headers={"x-api-key": "local-test-key"}, timeout=10
    )
    assert allowed.status_code == 200
    assert fixture_runner.state["api_key"] == "local-test-key"


def test_each_request_logs_one_line(fixture_runner: Runner) -> None:
    requests.get(f"{fixture_runner.url}/items/logged", timeout=10)
    lines = [line for line in fixture_runner.log_text().splitlines() if "/items/logged" in line]
    assert len(lines) == 1
    assert "GET /items/logged 200" in lines[0]
    assert lines[0].endswith(" ms")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    runner = start_runner(tmp_path, "--assembly", str(FIXTURE_ASSEMBLY), "--port", str(port))
    assert requests.get(f"{runner.url}/items/1", timeout=10).status_code == 200
    workers = children_of(runner.process.pid)
    assert workers  # warm instances are running

    assert runner.stop() == 0
    assert "Stopped." in runner.log_text()
    assert [pid for pid in workers if running(pid)] == []
    assert port_is_free(port)
