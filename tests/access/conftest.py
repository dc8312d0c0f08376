from collections.abc import Iterator

import pytest

from local_runner import harness
from tests.local_runner.assemblies import synthesized

PROD_API_KEY = "access-test-key-0123456789abcdef"
# A person of prod's user pool (invite only: seeded as an admin would create them).
OWNER = ("owner@example.com", "Owner-Pass-1")
STRANGER = ("stranger@example.com", "Stranger-Pass-1")


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RunnerProcess]:
    """prod as it ships: accounts required (every write needs a signed-in person), reads open."""
    (assembly,) = synthesized("prod")
    log = tmp_path_factory.mktemp("access-prod") / "runner.log"
    users = [
        arg for email, password in (OWNER, STRANGER) for arg in ("--user", f"{email}:{password}")
    ]
    with harness.start("--assembly", str(assembly), *users, log=log) as runner:
        yield runner


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.RunnerProcess]:
    """prod with `apiKeyRequired`: every route needs the API key as well."""
    (assembly,) = synthesized("prod", apiKeyRequired=True)
    log = tmp_path_factory.mktemp("access-keyed") / "runner.log"
    email, password = OWNER
    with harness.start(
        "--assembly",
        str(assembly),
        "--api-key",
        PROD_API_KEY,
        "--user",
        f"{email}:{password}",
        log=log,
    ) as runner:
        yield runner
