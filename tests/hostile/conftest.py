"""Unit-level fixtures are the handler tests' own (same environment, same moto session):
each handler module reads its environment once, at import, so every test directory that
calls the handlers in this process must agree on it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functions.conftest import _moto, aws, context, functions
from tests.hostile.local_service import LocalService, running
from tests.local_runner.assemblies import synthesized

__all__ = ["_moto", "aws", "context", "functions"]


@pytest.fixture(scope="session")
def dev_assembly() -> Path:
    (assembly,) = synthesized("dev")
    return assembly


@pytest.fixture(scope="session")
def service(dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """One local runner for the hostile tests over HTTP."""
    log = tmp_path_factory.mktemp("hostile-runner") / "runner.log"
    with running(dev_assembly, log) as started:
        yield started
