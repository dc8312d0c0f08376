from collections.abc import Iterator

import pytest

from tests.hostile.local_service import LocalService, running
from tests.local_runner.assemblies import synthesized

PROD_API_KEY = "access-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """The prod stage locally: every route requires an API key (apiKeyRequired)."""
    (assembly,) = synthesized("prod")
    log = tmp_path_factory.mktemp("access-prod") / "runner.log"
    with running(assembly, log, "--api-key", PROD_API_KEY) as service:
        yield service
