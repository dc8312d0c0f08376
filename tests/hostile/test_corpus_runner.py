"""The hostile corpus over HTTP through the local runner (synthesized dev stage).

Same answers as at unit level, now with API Gateway's framing in front (binary media types,
payload limit) and separate Lambda processes behind: the runner stays up, every answer is
the 4xx with its code, and the emulated bucket and queue are unchanged after each one.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests

from local_runner.harness import RunnerProcess
from tests.hostile import corpus
from tests.support import depths, keys, post

pytestmark = pytest.mark.slow  # drives the local runner

API_GATEWAY_LIMIT = 10 * 1024 * 1024


def upload_limit(assembly: Path) -> int:
    """MAX_UPLOAD_BYTES as the template gives it to the upload function."""
    (template_path,) = assembly.glob("*.template.json")
    for resource in json.loads(template_path.read_text())["Resources"].values():
        props = resource.get("Properties", {})
        if props.get("Handler") == "image_service.upload.handler":
            return int(props["Environment"]["Variables"]["MAX_UPLOAD_BYTES"])
    raise AssertionError("no upload function in the template")


@pytest.fixture(scope="module")
def cases(dev_assembly: Path) -> list[corpus.Case]:
    return corpus.refused(upload_limit(dev_assembly))


def snapshot(service: RunnerProcess) -> tuple[list[str], tuple[int, int]]:
    return keys(service), depths(service)


def test_whole_corpus_over_http(service: RunnerProcess, cases: list[corpus.Case]) -> None:
    """One test for the whole corpus (a runner round trip is ~10 ms; the report names each
    case that answered wrongly instead of stopping at the first)."""
    assert len(cases) >= 60
    before = snapshot(service)
    wrong: list[tuple[str, object]] = []
    for case in cases:
        response = post(service, case.body, case.content_type, **case.headers)
        try:
            got = (response.status_code, response.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            got = (response.status_code, response.text[:80])
        if got != (case.status, case.code):
            wrong.append((case.id, got))
        if response.headers.get("Content-Type") != "application/json":
            wrong.append((case.id, f"Content-Type {response.headers.get('Content-Type')}"))
        after = snapshot(service)
        if after != before:
            wrong.append((case.id, f"state changed: {before} -> {after}"))
    assert wrong == []
    assert service.alive()


def test_body_over_api_gateways_limit_is_refused_by_the_gateway(service: RunnerProcess) -> None:
    before = snapshot(service)
    response = post(service, b"\xff\xd8\xff" + b"\x00" * API_GATEWAY_LIMIT, "image/jpeg")
    assert response.status_code == 413
    assert snapshot(service) == before
    assert service.alive()


def test_raw_crlf_in_a_header_line_cannot_smuggle_a_header(service: RunnerProcess) -> None:
    """A raw CR LF ends the header line on the wire: the rest is a header of its own (or
    garbage), never part of the file name. The runner answers and stays up."""
    host, port = service.url.removeprefix("http://").split(":")
    body = corpus.html_page()
    request = (
        f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
        "X-Filename: evil.jpg\r\nSet-Cookie: stolen=1\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 415")
    assert b"set-cookie" not in head.lower()
    assert json.loads(payload)["error"]["code"] == "UnsupportedMediaType"
    assert service.alive()


def test_runner_still_serves_after_the_corpus(service: RunnerProcess) -> None:
    response = requests.get(f"{service.url}/download/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg", timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
