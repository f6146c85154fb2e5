"""Domain errors raised by services; views and the API translate them to responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses. `field` names what was wrong, when one thing was."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class ValidationFailed(DomainError):
    """Bad input: several field paths, each with its problems."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class PermissionDeniedError(DomainError):
    status_code = 403


class NotFoundError(DomainError):
    status_code = 404


class InvalidTransition(DomainError):
    """An illegal status move: the caller learns the current state."""

    status_code = 409


class ConflictError(DomainError):
    status_code = 409
