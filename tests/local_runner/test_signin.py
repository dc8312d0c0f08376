"""The stand-in for the user pool domain's sign-in pages: forms a person fills in, the code
flow with PKCE, the token endpoint, sign-out and sign-up."""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from local_runner.apigw import Reply
from local_runner.signin import SignInPages
from local_runner.tokens import Jwks, unverified_claims, verify
from tests.local_runner.cognito import Form, pkce
from tests.local_runner.conftest import EMAIL, PASSWORD, LocalPool

GALLERY = "http://127.0.0.1:3000/"
FORM = [("Content-Type", "application/x-www-form-urlencoded")]


@pytest.fixture
def pages(local_pool: LocalPool) -> SignInPages:
    found = SignInPages(
        local_pool.pool,
        local_pool.service.user_pool_domains[0],
        local_pool.service.user_pool_clients,
        local_pool.cognito,
        "http://127.0.0.1:5000",
    )
    found.gallery_urls = (GALLERY,)
    return found


def authorize_query(local_pool: LocalPool, challenge: str, **extra: str) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": local_pool.client.client_id,
            "redirect_uri": GALLERY,
            "state": "st<at>e",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "openid email",
            **extra,
        }
    )


def text(reply: Reply) -> str:
    return reply.body.decode()


def header(reply: Reply, name: str) -> str | None:
    return next((v for k, v in reply.headers if k.lower() == name.lower()), None)


def sign_in(pages: SignInPages, query: str, email: str = EMAIL, password: str = PASSWORD) -> Reply:
    form = Form(text(pages.reply("GET", f"/oauth2/authorize?{query}", [], b"")))
    assert form.action is not None
    body = urlencode(
        {form.field("Email")["name"]: email, form.field("Password")["name"]: password}
    ).encode()
    return pages.reply("POST", form.action.replace("&amp;", "&"), FORM, body)


def code_of(reply: Reply) -> str:
    assert reply.status == 302, text(reply)
    location = header(reply, "Location") or ""
    assert location.startswith(GALLERY)
    (code,) = parse_qs(urlsplit(location).query)["code"]
    return code


def exchange(
    pages: SignInPages, local_pool: LocalPool, code: str, verifier: str, **extra: str
) -> Reply:
    fields = {
        "grant_type": "authorization_code",
        "client_id": local_pool.client.client_id,
        "code": code,
        "redirect_uri": GALLERY,
        "code_verifier": verifier,
        **extra,
    }
    headers = [*FORM, ("Origin", "http://127.0.0.1:3000")]
    return pages.reply("POST", "/oauth2/token", headers, urlencode(fields).encode())


def test_the_sign_in_page_is_a_plain_form_a_person_fills_in_by_label(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    reply = pages.reply(
        "GET", f"/oauth2/authorize?{authorize_query(local_pool, 'c' * 43)}", [], b""
    )
    assert reply.status == 200
    assert header(reply, "Content-Type") == "text/html; charset=utf-8"
    csp = header(reply, "Content-Security-Policy") or ""
    assert "default-src 'none'" in csp
    assert "form-action 'self' https://example.cloudfront.net http://127.0.0.1:3000" in csp
    form = Form(text(reply))
    assert form.scripts == 0
    assert form.field("Email")["type"] == "email"
    assert form.field("Password")["type"] == "password"
    assert form.buttons == ["Sign in"]
    assert form.links["Create an account"].startswith("/signup?")
    # The request's values come back escaped, never as markup.
    assert "st<at>e" not in text(reply)
    assert "st%3Cat%3Ee" in text(reply)


def test_the_code_flow_with_pkce_gives_tokens_of_the_pool(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    verifier, challenge = pkce()
    reply = sign_in(pages, authorize_query(local_pool, challenge))
    location = header(reply, "Location") or ""
    assert parse_qs(urlsplit(location).query)["state"] == ["st<at>e"]
    answer = exchange(pages, local_pool, code_of(reply), verifier)
    assert answer.status == 200
    tokens = json.loads(answer.body)
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 3600)
    claims = verify(tokens["id_token"], [local_pool.pool.issuer], Jwks(local_pool.local))
    assert (claims["email"], claims["aud"]) == (EMAIL, local_pool.client.client_id)
    assert header(answer, "Cache-Control") == "no-store"
    assert header(answer, "Access-Control-Allow-Origin") == "http://127.0.0.1:3000"
    # The refresh token gives new tokens, without a new refresh token.
    fields = {
        "grant_type": "refresh_token",
        "client_id": local_pool.client.client_id,
        "refresh_token": tokens["refresh_token"],
    }
    again = pages.reply("POST", "/oauth2/token", FORM, urlencode(fields).encode())
    assert again.status == 200
    assert set(json.loads(again.body)) == {"id_token", "access_token", "expires_in", "token_type"}


def test_a_wrong_verifier_is_refused_and_spends_the_code(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    verifier, challenge = pkce()
    code = code_of(sign_in(pages, authorize_query(local_pool, challenge)))
    wrong = exchange(pages, local_pool, code, pkce()[0])
    assert (wrong.status, json.loads(wrong.body)) == (400, {"error": "invalid_grant"})
    late = exchange(pages, local_pool, code, verifier)
    assert (late.status, json.loads(late.body)) == (400, {"error": "invalid_grant"})


def test_a_code_is_good_once(pages: SignInPages, local_pool: LocalPool) -> None:
    verifier, challenge = pkce()
    code = code_of(sign_in(pages, authorize_query(local_pool, challenge)))
    assert exchange(pages, local_pool, code, verifier).status == 200
    reused = exchange(pages, local_pool, code, verifier)
    assert (reused.status, json.loads(reused.body)) == (400, {"error": "invalid_grant"})


def test_the_exchange_must_name_the_same_redirect_uri(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    verifier, challenge = pkce()
    code = code_of(sign_in(pages, authorize_query(local_pool, challenge)))
    other = exchange(
        pages, local_pool, code, verifier, redirect_uri="https://example.cloudfront.net/"
    )
    assert json.loads(other.body) == {"error": "invalid_grant"}


def test_a_foreign_redirect_uri_is_refused_without_redirecting(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    for uri in ("https://evil.example/", "http://127.0.0.1:3001/", GALLERY + "x"):
        query = authorize_query(local_pool, pkce()[1], redirect_uri=uri)
        reply = pages.reply("GET", f"/oauth2/authorize?{query}", [], b"")
        assert reply.status == 400
        assert header(reply, "Location") is None
        assert "redirect_mismatch" in text(reply)
        posted = pages.reply("POST", f"/oauth2/authorize?{query}", FORM, b"username=a&password=b")
        assert (posted.status, header(posted, "Location")) == (400, None)


def test_the_clients_own_callback_url_is_a_valid_redirect(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    query = authorize_query(local_pool, pkce()[1], redirect_uri="https://example.cloudfront.net/")
    assert pages.reply("GET", f"/oauth2/authorize?{query}", [], b"").status == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
    ],
)
def test_other_bad_requests_are_told_to_the_redirect_uri(
    pages: SignInPages, local_pool: LocalPool, change: dict[str, str], error: str
) -> None:
    query = authorize_query(local_pool, pkce()[1], **change)
    reply = pages.reply("GET", f"/oauth2/authorize?{query}", [], b"")
    assert reply.status == 302
    answer = parse_qs(urlsplit(header(reply, "Location") or "").query)
    assert answer == {"error": [error], "state": ["st<at>e"]}


def test_a_wrong_password_shows_the_form_again_with_an_alert(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    reply = sign_in(pages, authorize_query(local_pool, pkce()[1]), password="wrong")
    assert reply.status == 400
    form = Form(text(reply))
    assert form.alerts == ["Incorrect username or password."]
    assert form.field("Email")["value"] == EMAIL
    unknown = sign_in(pages, authorize_query(local_pool, pkce()[1]), email="nobody@example.com")
    assert Form(text(unknown)).alerts == ["Incorrect username or password."]


def test_a_session_signs_in_again_without_the_form_until_sign_out(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    query = authorize_query(local_pool, pkce()[1])
    first = sign_in(pages, query)
    cookie = (header(first, "Set-Cookie") or "").split(";")[0]
    assert cookie.startswith("cognito=")
    assert "HttpOnly" in (header(first, "Set-Cookie") or "")
    again = pages.reply("GET", f"/oauth2/authorize?{query}", [("Cookie", cookie)], b"")
    assert code_of(again) != code_of(first)
    logout_query = urlencode({"client_id": local_pool.client.client_id, "logout_uri": GALLERY})
    out = pages.reply("GET", f"/logout?{logout_query}", [("Cookie", cookie)], b"")
    assert (out.status, header(out, "Location")) == (302, GALLERY)
    assert "Max-Age=0" in (header(out, "Set-Cookie") or "")
    # The session is over, whether the browser drops the cookie or not.
    for cookies in ([], [("Cookie", cookie)]):
        assert pages.reply("GET", f"/oauth2/authorize?{query}", cookies, b"").status == 200


def test_sign_out_only_redirects_to_the_clients_urls(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    bad = urlencode(
        {"client_id": local_pool.client.client_id, "logout_uri": "https://evil.example/"}
    )
    assert pages.reply("GET", f"/logout?{bad}", [], b"").status == 400
    unknown = urlencode({"client_id": "nope", "logout_uri": GALLERY})
    assert pages.reply("GET", f"/logout?{unknown}", [], b"").status == 400


def test_sign_up_creates_a_confirmed_account_and_signs_it_in(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    verifier, challenge = pkce()
    query = authorize_query(local_pool, challenge)
    page = pages.reply("GET", f"/signup?{query}", [], b"")
    assert page.status == 200
    form = Form(text(page))
    assert form.buttons == ["Create account"]
    assert form.field("Password")["autocomplete"] == "new-password"
    assert "At least 10 characters" in text(page)
    email = f"new-{secrets.token_hex(4)}@example.com"
    weak = pages.reply(
        "POST",
        f"/signup?{query}",
        FORM,
        urlencode({"username": email, "password": "short"}).encode(),
    )
    assert weak.status == 400
    assert Form(text(weak)).alerts[0].startswith("That password is too weak. At least 10")
    made = pages.reply(
        "POST",
        f"/signup?{query}",
        FORM,
        urlencode({"username": email, "password": PASSWORD}).encode(),
    )
    tokens = json.loads(exchange(pages, local_pool, code_of(made), verifier).body)
    assert unverified_claims(tokens["id_token"])["email"] == email
    user = local_pool.cognito.admin_get_user(UserPoolId=local_pool.pool.pool_id, Username=email)
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    twice = pages.reply(
        "POST",
        f"/signup?{query}",
        FORM,
        urlencode({"username": email, "password": PASSWORD}).encode(),
    )
    assert Form(text(twice)).alerts == ["An account with this email already exists."]


def test_sign_up_is_refused_when_only_an_administrator_creates_accounts(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    invite = dataclasses.replace(
        local_pool.pool,
        properties={
            **local_pool.pool.properties,
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        },
    )
    pages.pool = invite
    query = authorize_query(local_pool, pkce()[1])
    assert (
        "Create an account"
        not in Form(text(pages.reply("GET", f"/oauth2/authorize?{query}", [], b""))).links
    )
    for method in ("GET", "POST"):
        refused = pages.reply(method, f"/signup?{query}", FORM, b"username=x%40y.z&password=p")
        assert refused.status == 403
        assert "Sign-up is not permitted for this user pool" in text(refused)


def test_the_token_endpoint_answers_cors_only_for_the_clients_origins(
    pages: SignInPages, local_pool: LocalPool
) -> None:
    def preflight(origin: str) -> Reply:
        return pages.reply(
            "OPTIONS",
            "/oauth2/token",
            [("Origin", origin), ("Access-Control-Request-Method", "POST")],
            b"",
        )

    allowed = preflight("http://127.0.0.1:3000")
    assert allowed.status == 204
    assert header(allowed, "Access-Control-Allow-Origin") == "http://127.0.0.1:3000"
    assert "POST" in (header(allowed, "Access-Control-Allow-Methods") or "")
    refused = preflight("https://evil.example")
    assert refused.status == 403
    assert header(refused, "Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"grant_type": "authorization_code", "client_id": "nope"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "made-up"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "made-up"}, "invalid_grant"),
    ],
)
def test_token_requests_it_refuses(
    pages: SignInPages, local_pool: LocalPool, fields: dict[str, Any], error: str
) -> None:
    body = urlencode({"client_id": local_pool.client.client_id, **fields}).encode()
    reply = pages.reply("POST", "/oauth2/token", FORM, body)
    assert (reply.status, json.loads(reply.body)) == (400, {"error": error})
