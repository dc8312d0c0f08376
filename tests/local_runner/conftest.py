from __future__ import annotations

from pathlib import Path

import pytest

from local_runner.template import Assembly, LocalAws, Service, load_service
from tests.infra.conftest import synthesized_assembly
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY

LOCAL = LocalAws(endpoint="http://127.0.0.1:4566")


@pytest.fixture(scope="session")
def stage_assemblies() -> dict[str, Path]:
    """The stages as the infrastructure tests synthesize them, in this process and without
    layer bundling, as `make local` does (the tests that start the runner use its own synth)."""
    return {stage: synthesized_assembly(stage) for stage in ("dev", "prod")}


@pytest.fixture(scope="session")
def dev_service(stage_assemblies: dict[str, Path]) -> Service:
    return load_service(Assembly.load(stage_assemblies["dev"]), LOCAL)


@pytest.fixture(scope="session")
def prod_service(stage_assemblies: dict[str, Path]) -> Service:
    return load_service(Assembly.load(stage_assemblies["prod"]), LOCAL)


@pytest.fixture(scope="session")
def fixture_service() -> Service:
    return load_service(Assembly.load(FIXTURE_ASSEMBLY), LOCAL)
