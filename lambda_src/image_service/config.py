"""What each function reads from its environment, once per execution environment.

The stack sets exactly these variables (their names are in `contract.Env`). Nothing here has
a default: a variable that is missing or malformed stops the cold start with a message that
names it, instead of the function quietly running with a value the stage never chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from image_service.contract import (
    ContractError,
    Env,
    Rendition,
    SharedCaches,
    origins_from_env,
    renditions_from_json,
)


class ConfigError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str:
        value = self._environ.get(name)
        if value is None:
            raise ConfigError(f"{name} is not set")
        return value

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not value:
            raise ConfigError(f"{name} is empty")
        return value

    def positive_int(self, name: str) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError as err:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from err
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
        return value

    def origins(self) -> tuple[str, ...]:
        return origins_from_env(self.raw(Env.CORS_ORIGINS))  # empty: no CORS headers

    def shared_caches(self) -> str:
        value = self.text(Env.SHARED_CACHES)
        if value not in (SharedCaches.ANY, SharedCaches.EDGE):
            raise ConfigError(
                f"{Env.SHARED_CACHES} must be {SharedCaches.ANY} or {SharedCaches.EDGE}, "
                f"got {value!r}"
            )
        return value

    def renditions(self) -> Mapping[str, Rendition]:
        try:
            parsed = renditions_from_json(self.text(Env.RENDITIONS))
        except ContractError as err:
            raise ConfigError(str(err)) from err
        return MappingProxyType({r.name: r for r in parsed})


@dataclass(frozen=True)
class UploadConfig:
    bucket_name: str
    table_name: str
    queue_url: str
    max_upload_bytes: int
    max_image_pixels: int
    cors_origins: tuple[str, ...]
    public_host: str  # empty: no distribution

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> UploadConfig:
        read = _Reader(environ)
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            queue_url=read.text(Env.QUEUE_URL),
            max_upload_bytes=read.positive_int(Env.MAX_UPLOAD_BYTES),
            max_image_pixels=read.positive_int(Env.MAX_IMAGE_PIXELS),
            cors_origins=read.origins(),
            public_host=read.raw(Env.PUBLIC_HOST),
        )


@dataclass(frozen=True)
class DownloadImageConfig:
    bucket_name: str
    table_name: str
    cors_origins: tuple[str, ...]
    shared_caches: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DownloadImageConfig:
        read = _Reader(environ)
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            cors_origins=read.origins(),
            shared_caches=read.shared_caches(),
        )


@dataclass(frozen=True)
class DownloadThumbnailConfig:
    bucket_name: str
    table_name: str
    renditions: Mapping[str, Rendition]
    default_rendition: str
    cors_origins: tuple[str, ...]
    shared_caches: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DownloadThumbnailConfig:
        read = _Reader(environ)
        renditions = read.renditions()
        default = read.text(Env.DEFAULT_RENDITION)
        if default not in renditions:
            raise ConfigError(f"{Env.DEFAULT_RENDITION} {default!r} is not in {Env.RENDITIONS}")
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            renditions=renditions,
            default_rendition=default,
            cors_origins=read.origins(),
            shared_caches=read.shared_caches(),
        )


@dataclass(frozen=True)
class WorkerConfig:
    bucket_name: str
    table_name: str
    renditions: Mapping[str, Rendition]
    max_direct_upload_bytes: int
    max_image_pixels: int
    max_receive_count: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerConfig:
        read = _Reader(environ)
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            renditions=read.renditions(),
            max_direct_upload_bytes=read.positive_int(Env.MAX_DIRECT_UPLOAD_BYTES),
            max_image_pixels=read.positive_int(Env.MAX_IMAGE_PIXELS),
            max_receive_count=read.positive_int(Env.MAX_RECEIVE_COUNT),
        )


@dataclass(frozen=True)
class CatalogueConfig:
    bucket_name: str
    table_name: str
    renditions: Mapping[str, Rendition]
    cors_origins: tuple[str, ...]
    distribution_id: str  # empty: no distribution, nothing to invalidate

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CatalogueConfig:
        read = _Reader(environ)
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            renditions=read.renditions(),
            cors_origins=read.origins(),
            distribution_id=read.raw(Env.DISTRIBUTION_ID),
        )


@dataclass(frozen=True)
class TicketsConfig:
    bucket_name: str
    table_name: str
    max_direct_upload_bytes: int
    cors_origins: tuple[str, ...]
    public_host: str  # empty: no distribution

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TicketsConfig:
        read = _Reader(environ)
        return cls(
            bucket_name=read.text(Env.BUCKET_NAME),
            table_name=read.text(Env.TABLE_NAME),
            max_direct_upload_bytes=read.positive_int(Env.MAX_DIRECT_UPLOAD_BYTES),
            cors_origins=read.origins(),
            public_host=read.raw(Env.PUBLIC_HOST),
        )


@dataclass(frozen=True)
class AuthorizerConfig:
    token_issuer: str
    token_audience: str
    jwks_url: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AuthorizerConfig:
        read = _Reader(environ)
        return cls(
            token_issuer=read.text(Env.TOKEN_ISSUER),
            token_audience=read.text(Env.TOKEN_AUDIENCE),
            # Not http(s): PyJWT refuses it when the authorizer makes its key client, at import.
            jwks_url=read.text(Env.JWKS_URL),
        )
