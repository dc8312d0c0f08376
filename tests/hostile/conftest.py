"""Unit-level fixtures are the handler tests' own (same environment, same moto session):
each handler module reads its environment once, at import, so every test directory that
calls the handlers in this process must agree on it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runner import harness
from tests.functions.conftest import _moto, aws, context, functions
from tests.local_runner.assemblies import synthesized

__all__ = ["_moto", "aws", "context", "functions"]


@pytest.fixture(scope="session")
def dev_assembly() -> Path:
    (assembly,) = synthesized("dev")
    return assembly


@pytest.fixture(scope="session")
def service(
    dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[harness.RunnerProcess]:
    """One local runner for the hostile tests over HTTP (a separate process: moto's
    in-process mock, which the unit tests here use, and an in-process moto server would share
    one set of backends)."""
    log = tmp_path_factory.mktemp("hostile-runner") / "runner.log"
    with harness.start("--assembly", str(dev_assembly), log=log) as runner:
        yield runner
