"""Service-level errors: an HTTP status, a stable machine-readable code and a message.

The error handlers (picsource_web.error_handlers) render them as an HTML page with the
message, or as application/problem+json with ``code``; both come from the same exception
so the two never disagree.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal the user should see; ``reason`` is a stable snake_case code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(ServiceError):
    """Missing or not visible to this user: the same answer, so existence never leaks."""

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(404, "not_found", message)


class BadRequest(ServiceError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(400, reason, message)


class Conflict(ServiceError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(409, reason, message)


class Unavailable(ServiceError):
    """A backing service (MongoDB or object storage) is down; ``service`` names it."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(503, f"{service}_unavailable", message)
        self.service = service
