"""Accounts on the local runner, as a person and a script use them: seeded users, the sign-in
stand-in's code flow with PKCE, sign-up, and both kinds of authorizer in front of functions.

Runs the test-only fixture assembly (`tests/local_runner/fixture_assembly`): a user pool with
its app client and domain, `GET /me` behind the user pool authorizer and `GET /maybe` behind a
REQUEST authorizer whose function verifies tokens against the JWKS the runner points it at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from local_runner import harness
from local_runner.harness import RunnerProcess
from local_runner.tokens import unverified_claims
from tests.local_runner.assemblies import FIXTURE_ASSEMBLY
from tests.local_runner.cognito import Form, expired, other_pool_token, pkce, tampered

pytestmark = pytest.mark.slow  # drives the local runner

ADA = ("ada@example.com", "Correct-Horse-9")
BOB = ("bob@example.com", "Battery-Staple-7")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    log = tmp_path_factory.mktemp("accounts-runner") / "runner.log"
    users = [f"--user={email}:{password}" for email, password in (ADA, BOB)]
    with harness.start("--assembly", str(FIXTURE_ASSEMBLY), *users, log=log) as started:
        yield started
        assert started.stop() == 0, started.log_text()[-3000:]


def echo(answer: requests.Response) -> dict[str, Any]:
    """The event the fixture's Echo function received."""
    assert answer.status_code == 200, answer.text
    event: dict[str, Any] = answer.json()["event"]
    return event


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_state_file_names_the_pool_its_client_and_the_sign_in_url(
    runner: RunnerProcess,
) -> None:
    accounts = runner.accounts
    assert accounts is not None
    assert set(accounts) == {"user_pool_id", "client_id", "sign_in_url"}
    cognito = runner.client("cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=10)["UserPools"]
    assert pool["Id"] == accounts["user_pool_id"]
    (client,) = cognito.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    assert client["ClientId"] == accounts["client_id"]
    described = cognito.describe_user_pool_client(
        UserPoolId=pool["Id"], ClientId=client["ClientId"]
    )
    assert described["UserPoolClient"]["CallbackURLs"] == ["https://example.cloudfront.net/"]
    domain = cognito.describe_user_pool_domain(Domain="fixture-gallery")["DomainDescription"]
    assert domain["UserPoolId"] == pool["Id"]
    sign_in = urlsplit(accounts["sign_in_url"])
    assert (sign_in.scheme, sign_in.hostname) == ("http", "127.0.0.1")
    assert sign_in.port not in (None, urlsplit(runner.url).port)  # an origin of its own


def test_the_banner_says_how_to_sign_in_and_its_commands_get_a_token(
    runner: RunnerProcess,
) -> None:
    log = runner.log_text()
    accounts = runner.accounts
    assert accounts is not None
    assert f"  sign-in:    {accounts['sign_in_url']}  (stands in for" in log
    assert "  user:       ada@example.com  (--user, confirmed)" in log
    assert f"Sign in on the gallery ({runner.url}/) as ada@example.com or bob@example.com" in log
    assert "GET     /me                              -> Echo  [signed in]" in log
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  EMAIL="))
    commands = [line.strip() for line in lines[start : start + 3]]
    assert commands[0] == "EMAIL=ada@example.com PASSWORD='<its password>'"
    assert commands[1].startswith("TOKEN=$(curl ")
    assert commands[2] == f'curl -sS -H "Authorization: Bearer $TOKEN" {runner.url}/me; echo'
    script = "\n".join([f"EMAIL={ADA[0]} PASSWORD='{ADA[1]}'", *commands[1:]])
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    claims = json.loads(done.stdout)["event"]["requestContext"]["authorizer"]["claims"]
    assert claims["email"] == ADA[0]


def test_a_signed_in_request_reaches_the_function_with_the_claims_as_strings(
    runner: RunnerProcess,
) -> None:
    token = runner.id_token(*ADA)
    for header in (token, f"Bearer {token}"):
        event = echo(
            requests.get(f"{runner.url}/me", headers={"Authorization": header}, timeout=10)
        )
        claims = event["requestContext"]["authorizer"]["claims"]
        assert all(isinstance(value, str) for value in claims.values())
        assert claims["sub"] == unverified_claims(token)["sub"]
        assert claims["email"] == ADA[0]
        assert claims["token_use"] == "id"
        assert claims["iss"].endswith(f"/{runner.accounts['user_pool_id']}")  # type: ignore[index]


def test_no_token_on_a_user_pool_method_is_401(runner: RunnerProcess) -> None:
    answer = requests.get(f"{runner.url}/me", timeout=10)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert "GET /me: 401 (identity source method.request.header.Authorization" in (
        runner.log_text()
    )


@pytest.mark.parametrize("route", ["/me", "/maybe"])
@pytest.mark.parametrize("kind", ["tampered", "expired", "other pool", "access token"])
def test_a_tampered_expired_foreign_or_access_token_is_401_on_both_authorizers(
    runner: RunnerProcess, route: str, kind: str
) -> None:
    answer = runner.client("cognito-idp").initiate_auth(
        ClientId=runner.accounts["client_id"],  # type: ignore[index]
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": BOB[0], "PASSWORD": BOB[1]},
    )["AuthenticationResult"]
    make: dict[str, Callable[[], str]] = {
        "tampered": lambda: tampered(answer["IdToken"]),
        "expired": lambda: expired(unverified_claims(answer["IdToken"])),
        "other pool": lambda: other_pool_token(runner, *ADA),
        "access token": lambda: str(answer["AccessToken"]),
    }
    refused = requests.get(f"{runner.url}{route}", headers=bearer(make[kind]()), timeout=10)
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})


def test_the_request_authorizer_lets_no_token_through_as_anonymous(
    runner: RunnerProcess,
) -> None:
    authorizer = echo(requests.get(f"{runner.url}/maybe", timeout=10))["requestContext"][
        "authorizer"
    ]
    assert authorizer["principalId"] == "anonymous"
    assert "sub" not in authorizer
    assert isinstance(authorizer["integrationLatency"], int)
    # What its function was handed: API Gateway's REQUEST authorizer event.
    assert authorizer["eventType"] == "REQUEST"
    assert authorizer["eventKeys"].split(",") == sorted(
        [
            "type",
            "methodArn",
            "resource",
            "path",
            "httpMethod",
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
            "requestContext",
        ]
    )
    assert authorizer["methodArn"].startswith("arn:aws:execute-api:us-east-1:123456789012:")
    assert authorizer["methodArn"].endswith("/test/GET/maybe")


def test_the_request_authorizer_verifies_a_present_token_against_the_local_jwks(
    runner: RunnerProcess,
) -> None:
    token = runner.id_token(*BOB)
    authorizer = echo(requests.get(f"{runner.url}/maybe", headers=bearer(token), timeout=10))[
        "requestContext"
    ]["authorizer"]
    claims = unverified_claims(token)
    assert authorizer["principalId"] == claims["sub"]
    assert (authorizer["iss"], authorizer["sub"], authorizer["email"]) == (
        claims["iss"],
        claims["sub"],
        BOB[0],
    )
    assert (authorizer["number"], authorizer["flag"]) == ("7", "true")  # stringified


def test_the_request_authorizers_deny_is_403_and_a_bad_answer_500(runner: RunnerProcess) -> None:
    denied = requests.get(f"{runner.url}/maybe?deny=1", timeout=10)
    assert denied.status_code == 403
    assert denied.json() == {
        "message": "User is not authorized to access this resource with an explicit deny"
    }
    broken = requests.get(f"{runner.url}/maybe?broken=1", timeout=10)
    assert (broken.status_code, broken.json()) == (500, {"message": None})


# --- the sign-in stand-in, as the page uses it -----------------------------------------------


def authorize_url(runner: RunnerProcess, challenge: str, **extra: str) -> str:
    accounts = runner.accounts
    assert accounts is not None
    query = {
        "response_type": "code",
        "client_id": accounts["client_id"],
        "redirect_uri": f"{runner.url}/",
        "state": "xyz",
        "scope": "openid email profile",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{accounts['sign_in_url']}/oauth2/authorize?{urlencode(query)}"


def submit(
    session: requests.Session, page: requests.Response, email: str, password: str
) -> requests.Response:
    """Fill in the page's form by its labels and press its one button."""
    assert page.status_code == 200, page.text
    form = Form(page.text)
    assert form.action is not None
    assert form.scripts == 0
    fields = {form.field("Email")["name"]: email, form.field("Password")["name"]: password}
    target = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}{form.action}"
    return session.post(target, data=fields, allow_redirects=False, timeout=10)


def code_from(runner: RunnerProcess, redirect: requests.Response) -> str:
    assert redirect.status_code == 302, redirect.text
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}/" == f"{runner.url}/"
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(
    runner: RunnerProcess, code: str, verifier: str, redirect_uri: str | None = None
) -> requests.Response:
    accounts = runner.accounts
    assert accounts is not None
    return requests.post(
        f"{accounts['sign_in_url']}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": accounts["client_id"],
            "code": code,
            "redirect_uri": redirect_uri or f"{runner.url}/",
            "code_verifier": verifier,
        },
        headers={"Origin": runner.url},
        timeout=10,
    )


def test_the_pkce_code_flow_end_to_end(runner: RunnerProcess) -> None:
    verifier, challenge = pkce()
    with requests.Session() as browser:
        page = browser.get(authorize_url(runner, challenge), timeout=10)
        assert Form(page.text).buttons == ["Sign in"]
        code = code_from(runner, submit(browser, page, *ADA))
    answer = exchange(runner, code, verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == runner.url
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer"
    event = echo(requests.get(f"{runner.url}/me", headers=bearer(tokens["id_token"]), timeout=10))
    assert event["requestContext"]["authorizer"]["claims"]["email"] == ADA[0]


def test_a_wrong_verifier_a_reused_code_and_a_foreign_redirect_uri_are_refused(
    runner: RunnerProcess,
) -> None:
    verifier, challenge = pkce()
    with requests.Session() as browser:
        code = code_from(
            runner, submit(browser, browser.get(authorize_url(runner, challenge), timeout=10), *ADA)
        )
        wrong = exchange(runner, code, pkce()[0])
        assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
        assert exchange(runner, code, verifier).status_code == 400  # spent by the wrong try
        # The session skips the form; the new code is good once.
        again = browser.get(authorize_url(runner, challenge), allow_redirects=False, timeout=10)
        fresh = code_from(runner, again)
        assert exchange(runner, fresh, verifier).status_code == 200
        reused = exchange(runner, fresh, verifier)
        assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})
    foreign = requests.get(
        authorize_url(runner, challenge, redirect_uri="https://evil.example/"),
        allow_redirects=False,
        timeout=10,
    )
    assert foreign.status_code == 400
    assert "Location" not in foreign.headers


def test_sign_up_is_open_from_the_sign_in_page(runner: RunnerProcess) -> None:
    verifier, challenge = pkce()
    with requests.Session() as browser:
        sign_in = browser.get(authorize_url(runner, challenge), timeout=10)
        link = Form(sign_in.text).links["Create an account"]
        accounts = runner.accounts
        assert accounts is not None
        page = browser.get(f"{accounts['sign_in_url']}{link.replace('&amp;', '&')}", timeout=10)
        assert Form(page.text).buttons == ["Create account"]
        made = submit(browser, page, "carol@example.com", "Lovelace-1843")
        code = code_from(runner, made)
    tokens = exchange(runner, code, verifier).json()
    event = echo(requests.get(f"{runner.url}/me", headers=bearer(tokens["id_token"]), timeout=10))
    assert event["requestContext"]["authorizer"]["claims"]["email"] == "carol@example.com"
    # The new account signs in from a script too.
    assert unverified_claims(runner.id_token("carol@example.com", "Lovelace-1843"))["email"] == (
        "carol@example.com"
    )


def test_the_page_config_names_the_local_client_and_sign_in_url(runner: RunnerProcess) -> None:
    config = requests.get(f"{runner.url}/config.json", timeout=10).json()
    accounts = runner.accounts
    assert accounts is not None
    assert config["accounts"]["clientId"] == accounts["client_id"]
    assert config["accounts"]["signInUrl"] == accounts["sign_in_url"]


def test_sign_up_is_refused_when_only_an_administrator_creates_accounts(tmp_path: Path) -> None:
    assembly = tmp_path / "assembly"
    shutil.copytree(FIXTURE_ASSEMBLY, assembly)
    template_file = assembly / "Fixture.template.json"
    template = json.loads(template_file.read_text())
    template["Resources"]["Pool"]["Properties"]["AdminCreateUserConfig"] = {
        "AllowAdminCreateUserOnly": True
    }
    template_file.write_text(json.dumps(template))
    with harness.start(
        "--assembly", str(assembly), f"--user={ADA[0]}:{ADA[1]}", log=tmp_path / "runner.log"
    ) as invite:
        assert "Sign-up is invite only: seed accounts with --user EMAIL:PASSWORD" in (
            invite.log_text()
        )
        sign_in = requests.get(authorize_url(invite, pkce()[1]), timeout=10)
        assert "Create an account" not in Form(sign_in.text).links
        accounts = invite.accounts
        assert accounts is not None
        refused = requests.get(
            f"{accounts['sign_in_url']}/signup?{urlsplit(sign_in.url).query}", timeout=10
        )
        assert refused.status_code == 403
        assert "Sign-up is not permitted for this user pool" in refused.text
        # A seeded account signs in all the same.
        assert unverified_claims(invite.id_token(*ADA))["email"] == ADA[0]
        assert invite.stop() == 0


def test_a_user_whose_password_breaks_the_policy_stops_the_runner(tmp_path: Path) -> None:
    refused = r"(?s)status 2:.*--user ada@example.com: the password does not meet the user pool"
    with pytest.raises(harness.RunnerError, match=refused):
        harness.start(
            "--assembly", str(FIXTURE_ASSEMBLY), "--user=ada@example.com:short", log=tmp_path / "r"
        )
