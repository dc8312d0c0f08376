"""The runner itself under failure and shutdown, on a tiny test-only stack.

The crashing handlers live in `tests/local_runner/fixture_assembly`, never in the product.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local_runner import harness
from local_runner.harness import RunnerProcess
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY

pytestmark = pytest.mark.slow  # drives the local runner


@pytest.fixture(scope="module")
def fixture_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    log = tmp_path_factory.mktemp("fixture-runner") / "runner.log"
    with harness.start(
        "--assembly", str(FIXTURE_ASSEMBLY), "--api-key", "local-test-key", log=log
    ) as runner:
        yield runner
        assert runner.stop() == 0, runner.log_text()[-3000:]


def test_port_0_serves_on_the_port_the_banner_and_state_file_tell(
    fixture_runner: RunnerProcess,
) -> None:
    port = int(fixture_runner.url.rsplit(":", 1)[1])
    assert port != 0
    assert not port_is_free(port)
    assert f"API (stage test): {fixture_runner.url} " in fixture_runner.log_text()
    assert requests.get(f"{fixture_runner.url}/items/1", timeout=10).status_code == 200


@pytest.mark.parametrize("route", ["/boom", "/exit", "/malformed"])
def test_a_crashing_handler_is_502_and_the_runner_keeps_serving(
    fixture_runner: RunnerProcess, route: str
) -> None:
    response = requests.get(f"{fixture_runner.url}{route}", timeout=10)
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    again = requests.get(f"{fixture_runner.url}/items/1", timeout=10)
    assert again.status_code == 200
    # The same crashing route is served again too (a dead instance was replaced).
    assert requests.get(f"{fixture_runner.url}{route}", timeout=10).status_code == 502


def test_the_function_timeout_is_enforced(fixture_runner: RunnerProcess) -> None:
    # The handler would sleep 20 s, longer than this request waits: the answer comes from
    # the function's timeout (1 s), under the 29 s of the API.
    response = requests.get(f"{fixture_runner.url}/slow", params={"s": "20"}, timeout=15)
    assert response.status_code == 502
    assert "GET /slow: the function timed out" in fixture_runner.log_text()
    fast = requests.get(f"{fixture_runner.url}/slow", params={"s": "0"}, timeout=10)
    assert (fast.status_code, fast.text) == (200, "done")


def test_the_api_key_given_on_the_command_line_is_required(
    fixture_runner: RunnerProcess,
) -> None:
    assert requests.get(f"{fixture_runner.url}/secure", timeout=10).status_code == 403
    allowed = requests.get(
        f"{fixture_runner.url}/secure", headers={"x-api-key": "local-test-key"}, timeout=10
    )
    assert allowed.status_code == 200
    assert fixture_runner.state["api_key"] == "local-test-key"


def test_each_request_logs_one_line(fixture_runner: RunnerProcess) -> None:
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
    runner = harness.start("--assembly", str(FIXTURE_ASSEMBLY), log=tmp_path / "runner.log")
    with runner:
        port = int(runner.url.rsplit(":", 1)[1])
        assert requests.get(f"{runner.url}/items/1", timeout=10).status_code == 200
        workers = runner.function_pids()
        assert workers  # warm instances are running

        assert runner.stop() == 0
    assert "Stopped." in runner.log_text()
    assert [pid for pid in workers if running(pid)] == []
    assert port_is_free(port)
    assert not (tmp_path / "runner.state.json").exists()  # it exists only while serving
