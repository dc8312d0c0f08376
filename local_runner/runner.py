"""Starting and stopping the whole local service, and what it prints."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runner.apigw import ApiServer
from local_runner.emulator import (
    Emulator,
    add_user,
    bucket_cors,
    create_resources,
    create_user_pools,
)
from local_runner.faults import FaultPlan
from local_runner.lambdas import FunctionPool, LayerContents, layer_contents, start_pools
from local_runner.signin import SignInServer
from local_runner.site import Site, load_site
from local_runner.sqs_source import SqsEventSource
from local_runner.template import (
    Assembly,
    LocalAws,
    RestApi,
    Service,
    TemplateError,
    UserPool,
    UserPoolClient,
    load_service,
)
from local_runner.tokens import Jwks

log = logging.getLogger("local_runner")


@dataclass(frozen=True)
class Options:
    assembly: Path
    port: int = 3000
    stack: str | None = None
    visibility_timeout_override: int | None = None
    api_key: str | None = None
    allow_unknown: bool = False
    max_instances: int = 6  # per API function; SQS targets get their MaximumConcurrency
    warm: bool = True
    state_file: Path | None = None  # where to write URLs and names as JSON once ready
    fault_plan: Path | None = None  # a file of planned faults (local_runner.faults), for tests
    users: tuple[tuple[str, str], ...] = ()  # (email, password): confirmed users to create


class LocalRunner:
    """moto server, the functions' worker pools, the SQS pollers and the API, together."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.assembly = Assembly.load(options.assembly, options.stack)
        self.emulator: Emulator | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.sources: list[SqsEventSource] = []
        self.api_server: ApiServer | None = None
        self.api_key: str | None = None
        self.service: Service | None = None
        self.site: Site | None = None
        self.sign_in: SignInServer | None = None
        self.notes: list[str] = []

    @property
    def url(self) -> str:
        """The API's URL, with the port it is bound to (`port=0`: one the system picked)."""
        port = self.options.port
        if self.api_server is not None:
            port = int(self.api_server.server_address[1])
        return f"http://127.0.0.1:{port}"

    @property
    def site_url(self) -> str | None:
        """Where the API's port serves the site, if the stack deploys one."""
        return f"{self.url}/" if self.site is not None and self.api_server is not None else None

    def start(self) -> None:
        # Fail on a taken port before starting anything else; port 0 cannot be taken.
        if self.options.port:
            _check_port_free(self.options.port)
        # Resolve once against a placeholder to refuse unknown types before starting moto.
        preview = load_service(self.assembly, LocalAws(endpoint="http://127.0.0.1:0"))
        if preview.unknown:
            listed = "\n".join(f"  {u.logical_id}: {u.type}" for u in preview.unknown)
            message = (
                f"the template declares resource types the local runner does not emulate:\n{listed}"
            )
            if not self.options.allow_unknown:
                raise TemplateError(
                    f"{message}\nRun with --allow-unknown-resources to start without them."
                )
            self.notes.append(message + "\n  (started anyway: --allow-unknown-resources)")
        if len(preview.apis) > 1:
            raise TemplateError("the local runner serves one REST API per stack")
        if len(preview.user_pools) > 1:
            raise TemplateError("the local runner serves one user pool per stack")
        if self.options.users and not preview.user_pools:
            raise TemplateError(
                "--user: the stack has no user pool to add users to (accounts are off for it)"
            )

        # Bucket names do not depend on the endpoint: the preview knows their CORS rules.
        self.emulator = Emulator(cors=bucket_cors(preview))
        # The pool and client first: their ids are moto's, and the rest refers to them.
        generated_ids, notes = create_user_pools(self.emulator, preview)
        self.notes.extend(notes)
        local = LocalAws(endpoint=self.emulator.endpoint, generated_ids=generated_ids)
        self.service = service = load_service(
            self.assembly,
            local,
            visibility_timeout_override=self.options.visibility_timeout_override,
        )
        self.notes.extend(create_resources(self.emulator, service))
        pool = self.user_pool
        for email, password in self.options.users:
            assert pool is not None
            add_user(self.emulator, pool, email, password)
        origins: dict[str, str] = {}
        for domain in service.user_pool_domains:
            assert pool is not None
            clients = [c for c in service.user_pool_clients if c.pool == pool.logical_id]
            self.sign_in = SignInServer(pool, domain, clients, self.emulator.client("cognito-idp"))
            origins[domain.base_url] = self.sign_in.url
        self.site = load_site(service, local, origins)
        if self.site is not None:
            self.site.upload(self.emulator.client("s3"))

        layers: dict[str, LayerContents] = {}
        for function in service.functions.values():
            for layer in function.layers:
                if layer.logical_id not in layers:
                    layers[layer.logical_id] = layer_contents(layer.source)
        self.layer_notes = {lid: c.notes for lid, c in layers.items()}
        api_functions = {r.function for api in service.apis for r in api.routes if r.function}
        api_functions |= {
            a.function for api in service.apis for a in api.authorizers.values() if a.function
        }
        limits = {
            logical_id: self.options.max_instances if logical_id in api_functions else 1
            for logical_id in service.functions
        }
        for mapping in service.event_sources:
            limits[mapping.function] = max(limits[mapping.function], mapping.maximum_concurrency)
        plan = FaultPlan(self.options.fault_plan) if self.options.fault_plan else None
        self.pools = start_pools(service.functions.values(), local, layers, limits, plan)
        if self.options.warm:
            with ThreadPoolExecutor(max_workers=len(self.pools) or 1) as executor:
                list(executor.map(lambda pool: pool.warm_up(), self.pools.values()))

        for mapping in service.event_sources:
            if not mapping.enabled:
                continue
            source = SqsEventSource(
                mapping,
                service.queue(mapping.queue),
                service.functions[mapping.function].display_name,
                self.emulator.client,
                lambda function, event: self.pools[function].invoke(event),
                local.region,
            )
            source.start()
            self.sources.append(source)

        if service.apis:
            api = service.apis[0]
            if any(route.api_key_required for route in api.routes):
                self.api_key = self.options.api_key or secrets.token_urlsafe(30)
            try:
                self.api_server = ApiServer(
                    self.options.port,
                    api,
                    lambda function, event, timeout: self.pools[function].invoke(event, timeout),
                    frozenset({self.api_key}) if self.api_key else frozenset(),
                    self.site,
                    Jwks(local),
                )
            except OSError as error:  # taken while the functions started
                raise _port_taken(self.options.port, error) from error
            self.api_server.function_timeouts = {
                f.logical_id: float(f.timeout_s) for f in service.functions.values()
            }
            self.api_server.start()
        if self.sign_in is not None:
            if self.api_server is not None:
                port = self.api_server.server_address[1]
                self.sign_in.pages.gallery_urls = (
                    f"http://127.0.0.1:{port}/",
                    f"http://localhost:{port}/",
                )
            self.sign_in.start()

    @property
    def user_pool(self) -> UserPool | None:
        assert self.service is not None
        return self.service.user_pools[0] if self.service.user_pools else None

    @property
    def app_client(self) -> UserPoolClient | None:
        """The pool's client for the page: the one with the authorization code flow."""
        assert self.service is not None
        clients = self.service.user_pool_clients
        return next((c for c in clients if "code" in c.oauth_flows), None) or (
            clients[0] if clients else None
        )

    def accounts_state(self) -> dict[str, Any] | None:
        pool = self.user_pool
        if pool is None:
            return None
        client = self.app_client
        return {
            "user_pool_id": pool.pool_id,
            "client_id": client.client_id if client else None,
            "sign_in_url": self.sign_in.url if self.sign_in else None,
        }

    def state(self) -> dict[str, Any]:
        """What a script or test needs to reach the running service."""
        assert self.service is not None
        assert self.emulator is not None
        return {
            "url": self.url,
            "site_url": self.site_url,
            "api_key": self.api_key,
            "moto_endpoint": self.emulator.endpoint,
            "buckets": {b.logical_id: b.name for b in self.service.buckets},
            "tables": {t.logical_id: t.name for t in self.service.tables},
            "queues": {q.logical_id: q.url for q in self.service.queues},
            "fault_plan": str(self.options.fault_plan) if self.options.fault_plan else None,
            "accounts": self.accounts_state(),
        }

    def stop(self) -> None:
        """Stop everything; safe to call on a half-started runner."""
        if self.api_server is not None:
            self.api_server.shutdown()
        for source in self.sources:
            source.stop()
        for pool in self.pools.values():
            pool.close()
        for source in self.sources:
            source.join(timeout_s=10)
        if self.api_server is not None:
            self.api_server.server_close()
        if self.sign_in is not None:
            self.sign_in.stop()
        if self.emulator is not None:
            self.emulator.stop()

    def banner(self, startup_s: float, synth_note: str) -> str:
        assert self.service is not None
        assert self.emulator is not None
        service = self.service
        gallery = f"Gallery: {self.site_url}   (open it in a browser)" if self.site_url else None
        lines = [
            *([gallery, ""] if gallery else []),
            f"Stack {service.stack_name!r} running locally (no AWS account, no Docker)",
            f"  template:   {self.assembly.directory} {synth_note}",
            f"  moto:       {self.emulator.endpoint}  (S3, DynamoDB, SQS"
            f"{' and Cognito' if service.user_pools else ''}; fake credentials 'testing')",
        ]
        for bucket in service.buckets:
            lines.append(f"  bucket:     {bucket.name}  ({bucket.logical_id})")
        if self.site is not None:
            lines.append(
                f"  site:       {len(self.site.files)} files of the bucket deployment in"
                f" {self.site.bucket}, served at /"
            )
        for table in service.tables:
            lines.append(f"  table:      {table.name}  ({table.logical_id})")
        lines.extend(self._accounts_lines())
        for notification in service.notifications:
            for queue in notification.configuration.get("QueueConfigurations", []):
                rules = queue.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                where = " ".join(f"{r['Name']}={r['Value']}" for r in rules) or "every key"
                target = queue["QueueArn"].rsplit(":", 1)[-1]
                lines.append(
                    f"  events:     {notification.bucket} {','.join(queue['Events'])}"
                    f" ({where}) -> {target}"
                )
        for queue in service.queues:
            vt = queue.attributes.get("VisibilityTimeout", "30")
            lines.append(f"  queue:      {queue.url}  (visibility {vt} s)")
        if self.options.visibility_timeout_override is not None:
            lines.append(
                f"  NOTE:       visibility timeout overridden to "
                f"{self.options.visibility_timeout_override} s for every queue (test setting);"
                " the template's value is used without --visibility-timeout-override"
            )
        if self.options.fault_plan is not None:
            lines.append(
                f"  NOTE:       faults planned in {self.options.fault_plan} strike the functions"
                " (test setting)"
            )
        for function in service.functions.values():
            pool = self.pools[function.logical_id]
            lines.append(
                f"  function:   {function.display_name}  {function.handler}"
                f"  {function.memory_mb} MB, {function.timeout_s} s,"
                f" up to {pool.max_instances} warm instance(s)"
            )
        for layer_id, notes in sorted(self.layer_notes.items()):
            lines.append(f"  layer:      {layer_id}: {'; '.join(notes)}")
        for mapping in service.event_sources:
            lines.append(
                f"  SQS -> {service.functions[mapping.function].display_name}:"
                f" batch {mapping.batch_size}, window {mapping.batching_window_s:g} s,"
                f" max concurrency {mapping.maximum_concurrency},"
                f" partial failures {'on' if mapping.report_batch_item_failures else 'off'}"
                + ("" if mapping.enabled else " (disabled in the template)")
            )
        lines.append(
            f"  not emulated (harmless locally, see IGNORED_TYPES): {len(service.ignored)}"
            f" resources: {', '.join(sorted({i.type.split('::', 1)[-1] for i in service.ignored}))}"
        )
        lines.extend(f"  note:       {note}" for note in self.notes)
        if self.api_server is not None:
            api = self.api_server.api
            lines.append("")
            lines.append(f"API (stage {api.stage}): {self.url}   (also {self.url}/{api.stage}/...)")
            for route in api.routes:
                if route.function is None and route.method == "OPTIONS":
                    continue
                target = (
                    service.functions[route.function].display_name if route.function else "mock"
                )
                key = "  [API key]" if route.api_key_required else ""
                if route.authorization == "COGNITO_USER_POOLS":
                    key += "  [signed in]"
                elif route.authorizer is not None:
                    by = api.authorizers[route.authorizer].function or ""
                    key += f"  [authorizer {service.functions[by].display_name}]"
                lines.append(f"  {route.method:<7} {route.resource_path:<32} -> {target}{key}")
            if self.api_key:
                lines.append(f"  API key (header x-api-key): {self.api_key}")
            lines.append("")
            lines.extend(curl_examples(self.url, api, self.api_key))
            lines.extend(self._sign_in_help(api))
        lines.append("")
        if gallery:
            lines.append(gallery)
        lines.append(f"Ready in {startup_s:.1f} s. Ctrl-C stops everything.")
        return "\n".join(lines)

    def _accounts_lines(self) -> list[str]:
        pool, client = self.user_pool, self.app_client
        if pool is None:
            return []
        sign_up = "sign-up open" if pool.sign_up_open else "invite only (no sign-up)"
        lines = [f"  user pool:  {pool.pool_id}  ({pool.logical_id}): {sign_up}"]
        if client is not None:
            lines.append(f"  app client: {client.client_id}  ({client.logical_id})")
        if self.sign_in is not None:
            lines.append(
                f"  sign-in:    {self.sign_in.url}  (stands in for"
                f" {self.sign_in.pages.domain.base_url}; no email is sent)"
            )
        for email, _ in self.options.users:
            lines.append(f"  user:       {email}  (--user, confirmed)")
        return lines

    def _sign_in_help(self, api: RestApi) -> list[str]:
        """How to sign in, and to call a signed-in route from a script."""
        pool, client = self.user_pool, self.app_client
        if pool is None or client is None:
            return []
        assert self.emulator is not None
        lines = ["", f"Accounts (user pool {pool.pool_id}):"]
        users = [email for email, _ in self.options.users]
        who = f"as {' or '.join(users)}" if users else "with an account"
        if self.sign_in is not None and self.site_url:
            lines.append(
                f"  Sign in on the gallery ({self.site_url}) {who}: its sign-in pages are the"
                f" local stand-in at {self.sign_in.url}"
            )
        if pool.sign_up_open:
            lines.append("  Anyone may create an account there (sign-up is open; no email is sent)")
        else:
            lines.append("  Sign-up is invite only: seed accounts with --user EMAIL:PASSWORD")
        lines.extend(token_examples(self.url, self.emulator.endpoint, client.client_id, api, users))
        return lines


def token_examples(
    url: str, moto: str, client_id: str, api: RestApi, users: list[str]
) -> list[str]:
    """An ID token from a script (moto's InitiateAuth, unsigned as Cognito's is), and a call
    to a route that wants one."""
    initiate = (
        json.dumps(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": client_id,
                "AuthParameters": {"USERNAME": "@EMAIL@", "PASSWORD": "@PASSWORD@"},
            }
        )
        .replace("@EMAIL@", "'\"$EMAIL\"'")
        .replace("@PASSWORD@", "'\"$PASSWORD\"'")
    )
    lines = [
        "  An ID token from a script (it lasts 1 h), then a signed-in request:",
        f"  EMAIL={users[0] if users else 'you@example.com'} PASSWORD='<its password>'",
        f"  TOKEN=$(curl -sS {moto}/ -H 'Content-Type: application/x-amz-json-1.1'"
        " -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth'"
        f" -d '{initiate}' | python3 -c 'import json, sys;"
        ' print(json.load(sys.stdin)["AuthenticationResult"]["IdToken"])\')',
    ]
    signed_in = sorted(
        (r for r in api.routes if r.function and r.authorization != "NONE"),
        key=lambda r: (
            r.authorization != "COGNITO_USER_POOLS",
            r.method != "GET",
            "{" in r.resource_path,
        ),
    )
    if signed_in:
        route = signed_in[0]
        verb = "" if route.method == "GET" else f" -X {route.method}"
        lines.append(
            f'  curl -sS{verb} -H "Authorization: Bearer $TOKEN" {url}{route.resource_path}; echo'
        )
    return lines


def curl_examples(url: str, api: RestApi, api_key: str | None) -> list[str]:
    """Copy-paste commands for the API's Lambda routes, in the order a user tries them:
    upload, download, thumbnail, the feed, the image's state, deletion."""
    routes = {(r.method, r.resource_path): r for r in api.routes if r.function}

    def key(method: str, path: str) -> str:
        route = routes[(method, path)]
        return f" -H 'x-api-key: {api_key}'" if route.api_key_required and api_key else ""

    show = "-w '%{http_code} %{content_type} %{size_download} bytes\\n'"
    lines = ["Try it (photo.jpg: any JPEG, PNG, GIF or WebP file):"]
    if ("POST", "/upload") not in routes:
        return lines
    lines.append(
        f"  curl -sS --data-binary @photo.jpg -H 'Content-Type: image/jpeg'"
        f" -H 'X-Filename: photo.jpg'{key('POST', '/upload')} {url}/upload | tee upload.json;"
        " echo"
    )
    lines.append(
        '  read NAME ID TOKEN <<< "$(python3 -c \'import json; u = json.load(open("upload.json"));'
        ' print(u["name"], u["id"], u["delete_token"])\')"'
    )
    for path in ("/download/{name}", "/download-thumbnail/{name}"):
        if ("GET", path) in routes:
            target = path.replace("{name}", "$NAME")
            prefix = path.strip("/").split("/")[0]
            lines.append(f"  curl -sS{key('GET', path)} -o {prefix}-$NAME {show} {url}{target}")
    if ("GET", "/download-thumbnail/{name}") in routes:
        lines.append("  (a thumbnail takes a moment: 404 ThumbnailPending until it is ready)")
    if ("GET", "/images") in routes:
        lines.append(f"  curl -sS{key('GET', '/images')} '{url}/images?limit=5'; echo")
    if ("GET", "/images/{id}") in routes:
        lines.append(f"  curl -sS{key('GET', '/images/{id}')} {url}/images/$ID; echo")
    if ("DELETE", "/images/{id}") in routes:
        lines.append(
            f'  curl -sS -X DELETE -H "X-Delete-Token: $TOKEN"{key("DELETE", "/images/{id}")}'
            f" -w '%{{http_code}}\\n' {url}/images/$ID"
        )
    if ("POST", "/uploads") in routes:
        lines.append(
            "  # a large photo (up to maxDirectUploadBytes): a ticket, then the bytes straight"
            " to the bucket"
        )
        lines.append(
            '  curl -sS -H \'Content-Type: application/json\' -d \'{"filename": "big.jpg",'
            ' "content_type": "image/jpeg", "size": \'$(wc -c < big.jpg)\'}\''
            f"{key('POST', '/uploads')} {url}/uploads > ticket.json"
        )
        lines.append(
            "  curl -sS -w '%{http_code}\\n' $(python3 -c 'import json; t = json.load(open("
            '"ticket.json")); print(*[f"-F {k}={v}" for k, v in t["upload"]["fields"].items()],'
            ' "-F file=@big.jpg", t["upload"]["url"])\')'
        )
    return lines


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise _port_taken(port, error) from error


def _port_taken(port: int, error: OSError) -> TemplateError:
    return TemplateError(
        f"port {port} on 127.0.0.1 is taken ({error.strerror}); pick another with"
        f" PORT=<n> make local (or --port, 0 for any free one)"
    )


class StopRequest:
    """Set from a signal handler, so it takes no lock: a handler that waits for a lock the
    interrupted main thread holds would deadlock."""

    requested = False

    def wait(self) -> None:
        while not self.requested:
            time.sleep(0.2)


def run_until_stopped(runner: LocalRunner, stop: StopRequest, synth_note: str, t0: float) -> None:
    state_file = runner.options.state_file
    try:
        runner.start()
        # The banner first: whoever waits for the state file finds it printed already.
        print(runner.banner(time.monotonic() - t0, synth_note), flush=True)
        if state_file is not None:
            # Renamed into place: whoever waits for the file never reads half of it.
            partial = state_file.with_name(state_file.name + ".partial")
            partial.write_text(json.dumps(runner.state(), indent=1))
            partial.replace(state_file)
        stop.wait()
        print("\nStopping: pollers, functions, API, moto ...", flush=True)
    finally:
        if state_file is not None:
            state_file.unlink(missing_ok=True)  # it exists only while the runner serves
        runner.stop()
    print("Stopped.", flush=True)


def configure_logging(stream: Any = sys.stdout) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
