"""Errors shared by the binding checks, the Secret reader and the spec parsers (kept apart to
avoid an import cycle)."""

from __future__ import annotations


class BindingError(Exception):
    """A binding cannot be used; `reason` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SpecError(ValueError):
    """A spec that can never work (the handler turns it into kopf.PermanentError).

    Its message names the field, as ``spec.web.pods.labels[app.kubernetes.io/name]``.
    """
