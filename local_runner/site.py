"""The site as the stack deploys it: the files of its bucket deployment, served at `/`.

CDK's `Custom::CDKBucketDeployment` copies asset folders (the page's files, and files it
generates such as a `config.json`) into the site bucket when the stack deploys, and the
distribution serves that bucket as its default behaviour. Locally the runner reads the same
asset folders from the cloud assembly, writes the same deploy-time values over their markers,
puts the files into the local site bucket, and serves them on its own port next to the API:
the content type the deployment's `aws s3 sync` gives each file (guessed from its name), the
deployment's `Cache-Control`, an `ETag` with `304` on `If-None-Match` as S3 answers, and the
distribution's security headers, with its Content-Security-Policy pointed at the local bucket
(the emulator's address instead of the S3 host names) and without `upgrade-insecure-requests`
(everything local is plain HTTP on loopback).

Deploy-time values that name the user pool domain's sign-in pages
(`https://<prefix>.auth.<region>.amazoncognito.com`), in the generated files and in the CSP,
name the runner's stand-in for them instead; the app client's id is already the local one.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from local_runner.apigw import Reply
from local_runner.template import LocalAws, Service, SiteDeployment, TemplateError

# What S3 answers for an object stored without a content type.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"


@dataclass(frozen=True)
class SiteFile:
    body: bytes
    content_type: str
    etag: str  # quoted, as S3 gives it: the MD5 of the bytes


class Site:
    """Object key -> file, and the headers every answer carries."""

    def __init__(
        self,
        bucket: str,
        files: Mapping[str, SiteFile],
        headers: list[tuple[str, str]],
        root_object: str | None,
    ) -> None:
        self.bucket = bucket
        self.files = files
        self.headers = headers
        self.root_object = root_object

    def reply(
        self, method: str, target: str, request_headers: list[tuple[str, str]]
    ) -> Reply | None:
        """The answer for a GET or HEAD of `target`, or None when the site has no such file
        (the caller answers as it would without a site)."""
        if method not in ("GET", "HEAD"):
            return None
        path = urlsplit(target).path or "/"
        key = unquote(path[1:])
        if path == "/" and self.root_object:
            key = self.root_object
        found = self.files.get(key)
        if found is None:
            return None
        headers = [("ETag", found.etag), *self.headers]
        match = next((v for k, v in request_headers if k.lower() == "if-none-match"), None)
        if match is not None and found.etag in {tag.strip() for tag in match.split(",")}:
            return Reply(304, headers, b"")
        return Reply(200, [("Content-Type", found.content_type), *headers], found.body)

    def upload(self, s3: Any) -> None:
        """Put the files into the local site bucket, as the deployment does."""
        for key, found in self.files.items():
            s3.put_object(
                Bucket=self.bucket, Key=key, Body=found.body, ContentType=found.content_type
            )


def load_site(
    service: Service, local: LocalAws, origins: Mapping[str, str] | None = None
) -> Site | None:
    """The site of `service`'s bucket deployment, or None when the stack deploys none.
    `origins`: deployed origin -> the local one that stands in for it (the sign-in pages)."""
    origins = origins or {}
    if not service.sites:
        return None
    if len({deployment.bucket for deployment in service.sites}) > 1:
        raise TemplateError(
            "the local runner serves one site: the deployments name several buckets"
        )
    edge = service.site_edge
    if edge is not None and edge.bucket is not None and edge.bucket != service.sites[0].bucket:
        raise TemplateError(
            f"the site is deployed to {service.sites[0].bucket}, but the distribution serves"
            f" {edge.bucket} at /"
        )
    files: dict[str, SiteFile] = {}
    extra: list[tuple[str, str]] = []
    for deployment in service.sites:
        files.update(deployed_files(deployment, origins))
        if "cache-control" in deployment.metadata:
            extra = [("Cache-Control", deployment.metadata["cache-control"])]
    headers = list(extra)
    for name, value in edge.headers if edge else ():
        if name == "Content-Security-Policy":
            value = local_csp(value, [b.name for b in service.buckets], local, origins)
        headers.append((name, value))
    return Site(service.sites[0].bucket, files, headers, edge.root_object if edge else "index.html")


def deployed_files(
    deployment: SiteDeployment, origins: Mapping[str, str] | None = None
) -> dict[str, SiteFile]:
    """Object key -> file, as the deployment leaves the bucket: its sources copied in order
    (a later one overwrites an earlier one's file of the same name), markers replaced by
    their values (a deployed origin among `origins` by its local stand-in)."""
    files: dict[str, SiteFile] = {}
    for source, markers, escape in zip(
        deployment.sources, deployment.markers, deployment.json_escape, strict=True
    ):
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = path.relative_to(source).as_posix()
            body = path.read_bytes()
            for marker, value in markers.items():
                value = with_local_origin(value, origins or {})
                text = json.dumps(value)[1:-1] if escape else value
                body = body.replace(marker.encode(), text.encode())
            content_type = deployment.metadata.get("content-type") or (
                mimetypes.guess_type(relative)[0] or DEFAULT_CONTENT_TYPE
            )
            etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'  # as S3's
            files[deployment.key_prefix + relative] = SiteFile(body, content_type, etag)
    return files


def local_csp(
    csp: str, buckets: list[str], local: LocalAws, origins: Mapping[str, str] | None = None
) -> str:
    """The policy with each bucket's S3 addresses replaced by the emulator's (which serves
    every bucket, path style), each of `origins` by its local stand-in, and without
    `upgrade-insecure-requests`."""
    hosts = {
        f"https://{name}.s3.{suffix}"
        for name in buckets
        for suffix in (local.url_suffix, f"{local.region}.{local.url_suffix}")
    }
    directives = []
    for directive in csp.split(";"):
        words = directive.split()
        if not words or words[0] == "upgrade-insecure-requests":
            continue
        sources: list[str] = []
        for word in words:
            word = local.endpoint if word in hosts else with_local_origin(word, origins or {})
            if word not in sources:
                sources.append(word)
        directives.append(" ".join(sources))
    return "; ".join(directives)


def with_local_origin(value: str, origins: Mapping[str, str]) -> str:
    """`value` with a deployed origin it starts with (`https://x.example`, alone or followed
    by a path or query) replaced by the local one standing in for it."""
    for deployed, stand_in in origins.items():
        if value == deployed or value.startswith((f"{deployed}/", f"{deployed}?")):
            return stand_in + value[len(deployed) :]
    return value
