from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_runner.emulator import Emulator, add_user, create_user_pools
from local_runner.template import (
    Assembly,
    LocalAws,
    Service,
    UserPool,
    UserPoolClient,
    load_service,
)
from tests.infra.conftest import synthesized_assembly, variant_assembly
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
def keyed_service() -> Service:
    """prod with `apiKeyRequired` on: every route needs the key, and a write a person too."""
    return load_service(Assembly.load(variant_assembly("prod-api-key")), LOCAL)


@pytest.fixture(scope="session")
def fixture_service() -> Service:
    return load_service(Assembly.load(FIXTURE_ASSEMBLY), LOCAL)


EMAIL = "ada@example.com"
PASSWORD = "Correct-Horse-9"


@dataclass
class LocalPool:
    """The fixture's user pool, client and domain in an emulator of this test process, with
    one confirmed user, and another pool (with a user of its own) for foreign tokens."""

    emulator: Emulator
    local: LocalAws
    service: Service  # the fixture assembly resolved with the ids moto gave
    other_pool: str
    other_client: str
    cognito: Any  # a client of the emulator's cognito-idp (made once: boto3 clients are slow)

    @property
    def pool(self) -> UserPool:
        return self.service.user_pools[0]

    @property
    def client(self) -> UserPoolClient:
        return self.service.user_pool_clients[0]

    def tokens(self, email: str = EMAIL, password: str = PASSWORD) -> dict[str, str]:
        """IdToken, AccessToken and RefreshToken of a sign-in to the fixture's client."""
        answer = self.cognito.initiate_auth(
            ClientId=self.client.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return dict(answer["AuthenticationResult"])

    def foreign_token(self) -> str:
        """An ID token of the other pool."""
        answer = self.cognito.initiate_auth(
            ClientId=self.other_client,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
        )
        return str(answer["AuthenticationResult"]["IdToken"])


@pytest.fixture(scope="session")
def local_pool() -> Iterator[LocalPool]:
    emulator = Emulator()
    try:
        preview = load_service(Assembly.load(FIXTURE_ASSEMBLY), LOCAL)
        ids, _ = create_user_pools(emulator, preview)
        local = LocalAws(endpoint=emulator.endpoint, generated_ids=ids)
        service = load_service(Assembly.load(FIXTURE_ASSEMBLY), local)
        add_user(emulator, service.user_pools[0], EMAIL, PASSWORD)
        cognito = emulator.client("cognito-idp")
        other = cognito.create_user_pool(PoolName="other", UsernameAttributes=["email"])
        other_id = other["UserPool"]["Id"]
        client = cognito.create_user_pool_client(UserPoolId=other_id, ClientName="other")
        other_pool = dataclasses.replace(service.user_pools[0], pool_id=other_id)
        add_user(emulator, other_pool, EMAIL, PASSWORD)
        yield LocalPool(
            emulator, local, service, other_id, client["UserPoolClient"]["ClientId"], cognito
        )
    finally:
        emulator.stop()
