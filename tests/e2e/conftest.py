"""The local runner, started as `make local` starts it (on a port it picks), for the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runner import harness
from tests.local_runner.assemblies import synthesized

PROJECT = Path(__file__).resolve().parent.parent.parent
# Short enough that a poison message is retried to the DLQ in seconds, long enough that a
# normal batch on a busy 2-core machine is not handed out twice.
VISIBILITY_TIMEOUT_S = 3


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RunnerProcess]:
    """The dev stage, synthesized as `make local` does it."""
    (assembly,) = synthesized("dev")
    log = tmp_path_factory.mktemp("dev-runner") / "runner.log"
    with harness.start(
        "--assembly",
        str(assembly),
        "--visibility-timeout-override",
        str(VISIBILITY_TIMEOUT_S),
        log=log,
    ) as runner:
        yield runner
        assert runner.stop() == 0, runner.log_text()[-3000:]
