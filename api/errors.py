"""The API's errors: each carries the HTTP status and a sentence the caller can act on."""

from __future__ import annotations

from indexer.errors import OrrangeError


class ApiError(OrrangeError):
    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Unprocessable(ApiError):
    status_code = 422


class Unavailable(ApiError):
    status_code = 503


class TooManyRequests(ApiError):
    status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}
