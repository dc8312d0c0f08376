"""The service's errors: each has a stable code and HTTP status, and a message a client may see.

Raised by the request handlers and by `imaging` (whose refusals are the client's fault); the
resolver of `api.rest_function` turns them into `{"error": {"code", "message"}}` responses.
Anything else that escapes a handler is an `InternalError` whose details stay in the logs.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "InternalError"
    default_message = "Internal error."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.headers = dict(headers or {})
        super().__init__(self.message)


class MalformedRequest(ServiceError):
    status, code = 400, "MalformedRequest"
    default_message = "The request body could not be read."


class InvalidName(ServiceError):
    status, code = 400, "InvalidName"
    default_message = "Not a valid image name (expected <26-char id>.<jpg|png|gif|webp|heic|avif>)."


class InvalidCursor(ServiceError):
    status, code = 400, "InvalidCursor"
    default_message = "This cursor was not issued by this feed; list again from the start."


class InvalidLimit(ServiceError):
    status, code = 400, "InvalidLimit"
    default_message = "limit must be a whole number from 1 to 100."


class InvalidVisibility(ServiceError):
    status, code = 400, "InvalidVisibility"
    default_message = (
        'visibility must be "public" or "private", and "private" needs a signed-in user.'
    )


class Forbidden(ServiceError):
    status, code = 403, "Forbidden"
    default_message = "Deleting an image needs the X-Delete-Token its upload returned."


class UnknownRendition(ServiceError):
    status, code = 400, "UnknownRendition"
    default_message = "Unknown thumbnail size."


class UnknownFormat(ServiceError):
    status, code = 400, "UnknownFormat"
    default_message = "Unknown thumbnail format; one of: webp, jpeg."


class NotFound(ServiceError):
    status, code = 404, "NotFound"
    default_message = "No image with this name."


class NoSuchRoute(ServiceError):
    status, code = 404, "NotFound"
    default_message = "No such route."


class ThumbnailPending(ServiceError):
    status, code = 404, "ThumbnailPending"
    default_message = "The thumbnail is being made; retry shortly."


class ThumbnailFailed(ServiceError):
    status, code = 404, "ThumbnailFailed"
    default_message = "No thumbnail could be made from this image."


class PayloadTooLarge(ServiceError):
    status, code = 413, "PayloadTooLarge"
    default_message = "The image is too large."


class UnsupportedMediaType(ServiceError):
    status, code = 415, "UnsupportedMediaType"
    default_message = "Only JPEG, PNG, GIF, WebP, HEIC/HEIF and AVIF images are accepted."


class InvalidImage(ServiceError):
    status, code = 422, "InvalidImage"
    default_message = "The image could not be decoded."


class TooManyOpenUploads(ServiceError):
    """Always with `Retry-After`: the seconds until the oldest open ticket stops counting."""

    status, code = 429, "TooManyOpenUploads"
    default_message = "Too many direct uploads waiting for their bytes; finish or wait for them."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class InternalError(ServiceError):
    pass


class ServiceUnavailable(ServiceError):
    """Always with `Retry-After`: the seconds after which a retry is likely to succeed."""

    status, code = 503, "ServiceUnavailable"
    default_message = "The service is temporarily unavailable; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
