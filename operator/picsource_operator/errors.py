"""Errors shared by the binding checks and the Secret reader (kept apart to avoid an import cycle)."""

from __future__ import annotations


class BindingError(Exception):
    """A binding cannot be used; `reason` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
