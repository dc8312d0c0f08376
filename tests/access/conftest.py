from collections.abc import Iterator

import pytest

from local_runner import harness
from tests.local_runner.assemblies import synthesized

PROD_API_KEY = "access-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RunnerProcess]:
    """The prod stage locally: every route requires an API key (apiKeyRequired)."""
    (assembly,) = synthesized("prod")
    log = tmp_path_factory.mktemp("access-prod") / "runner.log"
    with harness.start("--assembly", str(assembly), "--api-key", PROD_API_KEY, log=log) as runner:
        yield runner
