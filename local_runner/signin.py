"""A stand-in for a user pool domain's sign-in pages (moto has none), on its own loopback port.

It is the domain's origin locally, as `https://<prefix>.auth.<region>.amazoncognito.com` is in
AWS, and answers what the page uses of Cognito's managed login:

- `GET /oauth2/authorize?response_type=code&client_id&redirect_uri&state&code_challenge
  &code_challenge_method=S256&scope`: a plain form (no script), email and password; with a
  session (a sign-in less than an hour ago in this browser) it redirects at once.
- `POST /oauth2/authorize` (that form): checks the password with moto, then redirects to
  `redirect_uri?code=...&state=...`. The code is good once, for five minutes, and only with
  the same client, redirect_uri and the verifier of the PKCE S256 challenge.
- `POST /oauth2/token`: `grant_type=authorization_code` (code, redirect_uri, client_id,
  code_verifier) or `grant_type=refresh_token`; CORS for the gallery's origin.
- `GET /logout?client_id&logout_uri`: ends the session, redirects to logout_uri.
- `GET` and `POST /signup` when the pool lets people sign up: moto's SignUp, then the account
  is confirmed at once (no email is sent; moto takes any confirmation code).

A redirect_uri or logout_uri must be one the client lists, or the runner's own gallery URL.
Tokens are moto's: RS256, issuer `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.exceptions import ClientError

from local_runner.apigw import HOST, Reply
from local_runner.template import UserPool, UserPoolClient, UserPoolDomain

log = logging.getLogger("local_runner")

CODE_TTL_S = 300  # Cognito's authorization codes last five minutes
SESSION_TTL_S = 3600  # and its sign-in session an hour
SESSION_COOKIE = "cognito"
MAX_FORM_BYTES = 64 * 1024
# RFC 7636: a verifier is 43 to 128 unreserved characters.
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    refresh_token: str
    expires: float


@dataclass(frozen=True)
class _Session:
    refresh_token: str
    expires: float


@dataclass(frozen=True)
class _Authorize:
    """A valid authorization request."""

    client: UserPoolClient
    redirect_uri: str
    state: str | None
    challenge: str | None
    query: str  # its parameters, to carry through the forms and links


class _SignInFailed(Exception):
    """What the form tells the person (wrong password, unconfirmed account, ...)."""


class _Redirect(Exception):
    """An authorization error told to the client at its redirect_uri, as OAuth says."""

    def __init__(self, location: str) -> None:
        self.location = location


class SignInPages:
    """The pages and endpoints, independent of the HTTP plumbing."""

    def __init__(
        self,
        pool: UserPool,
        domain: UserPoolDomain,
        clients: Sequence[UserPoolClient],
        cognito: Any,
        base_url: str,
    ) -> None:
        self.pool = pool
        self.domain = domain
        self.clients = {client.client_id: client for client in clients}
        self.cognito = cognito  # moto's cognito-idp
        self.base_url = base_url
        # The runner's own gallery URLs (http://127.0.0.1:<port>/): also valid redirects.
        self.gallery_urls: tuple[str, ...] = ()
        self._grants: dict[str, _Grant] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    # --- what is allowed ------------------------------------------------------------------

    def redirect_uris(self, client: UserPoolClient) -> tuple[str, ...]:
        return (*client.callback_urls, *self.gallery_urls)

    def logout_uris(self, client: UserPoolClient) -> tuple[str, ...]:
        return (*client.logout_urls, *self.gallery_urls)

    def origins(self) -> list[str]:
        """The origins the stand-in redirects to and answers CORS for."""
        found: list[str] = []
        for client in self.clients.values():
            for url in (*self.redirect_uris(client), *self.logout_uris(client)):
                parts = urlsplit(url)
                origin = f"{parts.scheme}://{parts.netloc}"
                if parts.scheme and parts.netloc and origin not in found:
                    found.append(origin)
        return found

    # --- requests -------------------------------------------------------------------------

    def reply(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> Reply:
        split = urlsplit(target)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        header = {name.lower(): value for name, value in headers}
        path = split.path
        try:
            if path == "/oauth2/authorize" and method in ("GET", "HEAD"):
                return self._authorize_page(params, header)
            if path == "/oauth2/authorize" and method == "POST":
                return self._sign_in(params, _form(body))
            if path == "/signup" and method in ("GET", "HEAD"):
                return self._sign_up_page(params)
            if path == "/signup" and method == "POST":
                return self._sign_up(params, _form(body))
            if path == "/oauth2/token" and method == "OPTIONS":
                return self._preflight(header)
            if path == "/oauth2/token" and method == "POST":
                return self._token(header, body)
            if path == "/logout" and method in ("GET", "HEAD"):
                return self._logout(params, header)
        except _Redirect as redirect:
            return Reply(302, [("Location", redirect.location), *self._page_headers()], b"")
        if path in ("/oauth2/authorize", "/signup", "/oauth2/token", "/logout"):
            return self._error_page(405, "This method is not allowed here.")
        return self._error_page(404, "There is no such page.")

    def _authorize_request(self, params: Mapping[str, str]) -> _Authorize | Reply:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return self._error_page(400, "invalid_request: client_id is not a client of this pool.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris(client):
            return self._error_page(
                400, "redirect_mismatch: redirect_uri is not one of the client's callback URLs."
            )
        state = params.get("state")

        def refuse(error: str) -> _Redirect:
            answer = {"error": error, **({"state": state} if state is not None else {})}
            return _Redirect(_with_query(redirect_uri, answer))

        if "code" not in client.oauth_flows:
            raise refuse("unauthorized_client")
        if params.get("response_type") != "code":
            raise refuse("unsupported_response_type")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method")
        if (challenge is None) != (method is None) or method not in (None, "S256"):
            raise refuse("invalid_request")
        scopes = params.get("scope", "").split()
        if any(scope not in client.oauth_scopes for scope in scopes):
            raise refuse("invalid_scope")
        kept = {
            key: params[key]
            for key in (
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method",
                "scope",
            )
            if key in params
        }
        return _Authorize(client, redirect_uri, state, challenge, urlencode(kept))

    def _authorize_page(self, params: Mapping[str, str], header: Mapping[str, str]) -> Reply:
        request = self._authorize_request(params)
        if isinstance(request, Reply):
            return request
        session = self._session(header.get("cookie", ""))
        if session is not None:
            return self._grant(request, session.refresh_token, None)
        return self._sign_in_form(request, email="", error=None, status=200)

    def _sign_in(self, params: Mapping[str, str], form: Mapping[str, str]) -> Reply:
        request = self._authorize_request(params)
        if isinstance(request, Reply):
            return request
        email = form.get("username", "").strip()
        try:
            refresh_token = self._password_sign_in(request.client, email, form.get("password", ""))
        except _SignInFailed as failed:
            return self._sign_in_form(request, email=email, error=str(failed), status=400)
        return self._grant(request, refresh_token, self._new_session(refresh_token))

    def _password_sign_in(self, client: UserPoolClient, email: str, password: str) -> str:
        """The refresh token of a sign-in with `email` and `password`; raises _SignInFailed."""
        try:
            answer = self.cognito.initiate_auth(
                ClientId=client.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "UserNotConfirmedException":
                raise _SignInFailed("This account is not confirmed yet.") from error
            raise _SignInFailed("Incorrect username or password.") from error
        if "AuthenticationResult" not in answer:
            challenge = answer.get("ChallengeName", "a challenge")
            if challenge == "NEW_PASSWORD_REQUIRED":
                raise _SignInFailed(
                    "This account must choose a new password first, which this local page does"
                    " not offer: set one with AdminSetUserPassword."
                )
            raise _SignInFailed(
                f"This account asks for {challenge}, which this local page does not offer."
            )
        return str(answer["AuthenticationResult"]["RefreshToken"])

    def _grant(self, request: _Authorize, refresh_token: str, session: str | None) -> Reply:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            self._grants[code] = _Grant(
                request.client.client_id,
                request.redirect_uri,
                request.challenge,
                refresh_token,
                time.monotonic() + CODE_TTL_S,
            )
        answer = {"code": code, **({"state": request.state} if request.state is not None else {})}
        headers = [("Location", _with_query(request.redirect_uri, answer)), *self._page_headers()]
        if session is not None:
            headers.append(
                (
                    "Set-Cookie",
                    f"{SESSION_COOKIE}={session}; Path=/oauth2; Max-Age={SESSION_TTL_S};"
                    " HttpOnly; SameSite=Lax",
                )
            )
        return Reply(302, headers, b"")

    def _sign_up_page(self, params: Mapping[str, str]) -> Reply:
        if not self.pool.sign_up_open:
            return self._sign_up_closed()
        request = self._authorize_request(params)
        if isinstance(request, Reply):
            return request
        return self._sign_up_form(request, email="", error=None, status=200)

    def _sign_up(self, params: Mapping[str, str], form: Mapping[str, str]) -> Reply:
        if not self.pool.sign_up_open:
            return self._sign_up_closed()
        request = self._authorize_request(params)
        if isinstance(request, Reply):
            return request
        email = form.get("username", "").strip()
        password = form.get("password", "")
        client_id = request.client.client_id
        try:
            self.cognito.sign_up(
                ClientId=client_id,
                Username=email,
                Password=password,
                UserAttributes=[{"Name": "email", "Value": email}],
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            message = {
                "InvalidPasswordException": "That password is too weak. "
                + self.pool.password_rules(),
                "UsernameExistsException": "An account with this email already exists.",
                "InvalidParameterException": "Enter an email address.",
            }.get(code, f"The account could not be created ({code}).")
            return self._sign_up_form(request, email=email, error=message, status=400)
        # Cognito would email a code and ask for it; moto takes any code, and no email is sent.
        self.cognito.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode="000000")
        self.cognito.admin_update_user_attributes(
            UserPoolId=self.pool.pool_id,
            Username=email,
            UserAttributes=[{"Name": "email_verified", "Value": "true"}],
        )
        log.info("sign-up: %s created an account in %s", email, self.pool.pool_id)
        try:
            refresh_token = self._password_sign_in(request.client, email, password)
        except _SignInFailed as failed:
            return self._sign_up_form(request, email=email, error=str(failed), status=400)
        return self._grant(request, refresh_token, self._new_session(refresh_token))

    def _logout(self, params: Mapping[str, str], header: Mapping[str, str]) -> Reply:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return self._error_page(400, "invalid_request: client_id is not a client of this pool.")
        logout_uri = params.get("logout_uri", "")
        if logout_uri not in self.logout_uris(client):
            return self._error_page(
                400, "invalid_request: logout_uri is not one of the client's sign-out URLs."
            )
        session = _cookie(header.get("cookie", ""))
        if session is not None:
            with self._lock:
                self._sessions.pop(session, None)
        return Reply(
            302,
            [
                ("Location", logout_uri),
                (
                    "Set-Cookie",
                    f"{SESSION_COOKIE}=; Path=/oauth2; Max-Age=0; HttpOnly; SameSite=Lax",
                ),
                *self._page_headers(),
            ],
            b"",
        )

    # --- the token endpoint ---------------------------------------------------------------

    def _cors(self, header: Mapping[str, str]) -> list[tuple[str, str]]:
        origin = header.get("origin")
        if origin is None or origin not in self.origins():
            return [("Vary", "Origin")]
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]

    def _preflight(self, header: Mapping[str, str]) -> Reply:
        cors = self._cors(header)
        if len(cors) == 1:
            return Reply(403, cors, b"")
        return Reply(
            204,
            [
                *cors,
                ("Access-Control-Allow-Methods", "POST"),
                ("Access-Control-Allow-Headers", "Content-Type, Authorization"),
                ("Access-Control-Max-Age", "600"),
            ],
            b"",
        )

    def _token(self, header: Mapping[str, str], body: bytes) -> Reply:
        cors = self._cors(header)

        def answer(status: int, payload: Mapping[str, Any]) -> Reply:
            return Reply(
                status,
                [
                    ("Content-Type", "application/json;charset=UTF-8"),
                    ("Cache-Control", "no-store"),
                    ("Pragma", "no-cache"),
                    *cors,
                ],
                json.dumps(payload).encode(),
            )

        if not header.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return answer(400, {"error": "invalid_request"})
        form = _form(body)
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return answer(400, {"error": "invalid_client"})
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                grant = self._grants.pop(form.get("code", ""), None)  # spent, whatever follows
            if (
                grant is None
                or grant.expires <= time.monotonic()
                or grant.client_id != client.client_id
                or grant.redirect_uri != form.get("redirect_uri")
                or not _verifier_matches(grant.challenge, form.get("code_verifier"))
            ):
                return answer(400, {"error": "invalid_grant"})
            tokens = self._tokens(client, grant.refresh_token)
            if tokens is None:
                return answer(400, {"error": "invalid_grant"})
            return answer(200, {**tokens, "refresh_token": grant.refresh_token})
        if grant_type == "refresh_token":
            tokens = self._tokens(client, form.get("refresh_token", ""))
            if tokens is None:
                return answer(400, {"error": "invalid_grant"})
            return answer(200, tokens)
        return answer(400, {"error": "unsupported_grant_type"})

    def _tokens(self, client: UserPoolClient, refresh_token: str) -> dict[str, Any] | None:
        try:
            result = self.cognito.initiate_auth(
                ClientId=client.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )["AuthenticationResult"]
        except (ClientError, KeyError):
            return None
        return {
            "id_token": result["IdToken"],
            "access_token": result["AccessToken"],
            "expires_in": int(result["ExpiresIn"]),
            "token_type": "Bearer",
        }

    # --- sessions -------------------------------------------------------------------------

    def _new_session(self, refresh_token: str) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = _Session(refresh_token, time.monotonic() + SESSION_TTL_S)
        return session

    def _session(self, cookies: str) -> _Session | None:
        value = _cookie(cookies)
        with self._lock:
            self._prune()
            return self._sessions.get(value) if value else None

    def _prune(self) -> None:
        now = time.monotonic()
        for store in (self._grants, self._sessions):
            for key in [k for k, v in store.items() if v.expires <= now]:
                del store[key]

    # --- pages ----------------------------------------------------------------------------

    def _page_headers(self) -> list[tuple[str, str]]:
        # No script or style at all; the form may only post here, and its answer may only
        # redirect to a client's URLs.
        origins = " ".join(self.origins())
        return [
            (
                "Content-Security-Policy",
                f"default-src 'none'; form-action 'self' {origins}; frame-ancestors 'none';"
                " base-uri 'none'",
            ),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ]

    def _page(self, status: int, title: str, content: str) -> Reply:
        document = (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n</head>\n<body>\n<main>\n"
            f"<h1>{html.escape(title)}</h1>\n"
            "<p>Local stand-in for the Cognito sign-in pages of user pool"
            f" {html.escape(self.pool.pool_id)} ({html.escape(self.domain.base_url)}).</p>\n"
            f"{content}</main>\n</body>\n</html>\n"
        )
        return Reply(
            status,
            [("Content-Type", "text/html; charset=utf-8"), *self._page_headers()],
            document.encode(),
        )

    def _error_page(self, status: int, message: str) -> Reply:
        return self._page(status, "An error was encountered", f"<p>{html.escape(message)}</p>\n")

    def _sign_up_closed(self) -> Reply:
        return self._error_page(
            403, "Sign-up is not permitted for this user pool: an administrator creates accounts."
        )

    def _sign_in_form(
        self, request: _Authorize, *, email: str, error: str | None, status: int
    ) -> Reply:
        link = ""
        if self.pool.sign_up_open:
            link = (
                f'<p>No account yet? <a href="/signup?{html.escape(request.query)}">'
                "Create an account</a></p>\n"
            )
        content = (
            _alert(error)
            + f'<form method="post" action="/oauth2/authorize?{html.escape(request.query)}">\n'
            + _field("email", "Email", "username", "email", "username", email)
            + _field("password", "Password", "password", "password", "current-password", "")
            + '<p><button type="submit">Sign in</button></p>\n</form>\n'
            + link
        )
        return self._page(status, "Sign in", content)

    def _sign_up_form(
        self, request: _Authorize, *, email: str, error: str | None, status: int
    ) -> Reply:
        rules = html.escape(self.pool.password_rules())
        content = (
            _alert(error)
            + f'<form method="post" action="/signup?{html.escape(request.query)}">\n'
            + _field("email", "Email", "username", "email", "username", email)
            + _field(
                "password", "Password", "password", "password", "new-password", "", "password-rules"
            )
            + f'<p id="password-rules">{rules}</p>\n'
            + "<p>No email is sent locally: the account is confirmed at once.</p>\n"
            + '<p><button type="submit">Create account</button></p>\n</form>\n'
            + f'<p>Have an account? <a href="/oauth2/authorize?{html.escape(request.query)}">'
            + "Sign in</a></p>\n"
        )
        return self._page(status, "Create an account", content)


def _alert(error: str | None) -> str:
    return f'<p role="alert">{html.escape(error)}</p>\n' if error else ""


def _field(
    field_id: str,
    label: str,
    name: str,
    kind: str,
    autocomplete: str,
    value: str,
    described_by: str | None = None,
) -> str:
    described = f' aria-describedby="{described_by}"' if described_by else ""
    return (
        f'<p><label for="{field_id}">{html.escape(label)}</label>\n'
        f'<input id="{field_id}" name="{name}" type="{kind}" autocomplete="{autocomplete}"'
        f' value="{html.escape(value)}" required{described}></p>\n'
    )


def _cookie(cookies: str) -> str | None:
    """The session cookie's value in a Cookie header."""
    for part in cookies.split(";"):
        name, _, value = part.partition("=")
        if name.strip() == SESSION_COOKIE and value.strip():
            return value.strip()
    return None


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _with_query(url: str, params: Mapping[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _verifier_matches(challenge: str | None, verifier: str | None) -> bool:
    """PKCE S256: the challenge is the unpadded base64url SHA-256 of the verifier."""
    if challenge is None:
        return True  # the authorization request carried no challenge
    if verifier is None or not VERIFIER.match(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return secrets.compare_digest(computed, challenge)


class SignInServer(ThreadingHTTPServer):
    """The stand-in on 127.0.0.1, on a free port: its own origin."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        pool: UserPool,
        domain: UserPoolDomain,
        clients: Sequence[UserPoolClient],
        cognito: Any,
    ) -> None:
        super().__init__((HOST, 0), _Handler)
        self.url = f"http://{HOST}:{self.server_address[1]}"
        self.pages = SignInPages(pool, domain, clients, cognito, self.url)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="sign-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SignInServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            reply = Reply(413 if length > 0 else 400, [("Connection", "close")], b"")
            self.close_connection = True
        else:
            body = self.rfile.read(length)
            reply = self.server.pages.reply(
                self.command, self.path, list(self.headers.items()), body
            )
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        log.info("sign-in %s %s %d", self.command, urlsplit(self.path).path, reply.status)

    do_GET = do_POST = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
