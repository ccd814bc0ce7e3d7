"""Errors raised by the admin client, one class per kind of failure the admin API reports.

LockgateError
 ├── TransportError         the admin API could not be reached
 └── ApiError               the admin API answered with an error (status, message, field)
      ├── BadRequest          400 / 422: invalid input; `field` names the offending field
      ├── Unauthorized        401: missing or wrong admin token
      ├── NotFound            404
      ├── Conflict            409: name taken, or still referenced
      └── ServerError         5xx
"""

from __future__ import annotations


class LockgateError(Exception):
    """Base of every error the SDK raises."""


class TransportError(LockgateError):
    """The admin API could not be reached (connection refused, timeout)."""


class ApiError(LockgateError):
    """The admin API answered with an error; carries its status, message and the offending field."""

    def __init__(self, status: int, message: str, field: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field or []


class BadRequest(ApiError):
    """400/422: the input was invalid; `field` is the path of the offending field."""


class Unauthorized(ApiError):
    """401: the admin token is missing or wrong."""


class NotFound(ApiError):
    """404: no such entity."""


class Conflict(ApiError):
    """409: the name is taken, or the entity is still referenced by others."""


class ServerError(ApiError):
    """5xx: the control plane failed."""


def error_for_status(status: int, message: str, field: list[str | int] | None = None) -> ApiError:
    """The ApiError subclass for an HTTP status."""
    cls: type[ApiError] = {400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict, 422: BadRequest}.get(
        status, ServerError if status >= 500 else ApiError
    )
    return cls(status, message, field)
