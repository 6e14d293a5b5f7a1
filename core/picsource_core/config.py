"""Typed, validated reading of configuration from the environment.

Twelve-factor: every component reads its settings once at start-up from
environment variables. A missing or malformed value raises ConfigurationError
whose message names the variable, so the process can stop with one clear line
instead of failing later with a stack trace.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "k": 1000, "m": 1000**2, "g": 1000**3,
    "ki": 1024, "mi": 1024**2, "gi": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

_MISSING = object()


class ConfigurationError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"configuration error: {name} {problem}")
        self.name = name


class Env:
    """Typed readers over a mapping of environment variables.

    Empty strings count as unset, which matches how Kubernetes and .env files
    usually express "no value".
    """

    def __init__(self, environ: Mapping[builtins.str, builtins.str]) -> None:
        self._environ = environ

    def raw(self, name: builtins.str) -> builtins.str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def str(self, name: builtins.str, default: object = _MISSING) -> builtins.str:
        value = self.raw(name)
        if value is None:
            if default is _MISSING:
                raise ConfigurationError(name, "is required but not set")
            return str(default)
        return value

    def optional_str(self, name: builtins.str) -> builtins.str | None:
        return self.raw(name)

    def int(
        self, name: builtins.str, default: object = _MISSING, *, minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        return builtins.int(self._number(name, default, builtins.int, "an integer", minimum, maximum))

    def float(
        self, name: builtins.str, default: object = _MISSING, *, minimum: builtins.float | None = None,
        maximum: builtins.float | None = None,
    ) -> builtins.float:
        return builtins.float(self._number(name, default, builtins.float, "a number", minimum, maximum))

    def _number(
        self, name: builtins.str, default: object, parse: type[builtins.int] | type[builtins.float],
        kind: builtins.str, minimum: builtins.float | None, maximum: builtins.float | None,
    ) -> builtins.float:
        value = self.raw(name)
        if value is None:
            if default is _MISSING:
                raise ConfigurationError(name, "is required but not set")
            return parse(default)  # type: ignore[arg-type,call-overload]
        try:
            number = parse(value)
        except ValueError:
            raise ConfigurationError(name, f"must be {kind}, got {value!r}") from None
        _check_range(name, number, minimum, maximum)
        return number

    def bool(self, name: builtins.str, default: builtins.bool | None = None) -> builtins.bool:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise ConfigurationError(name, "is required but not set")
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(name, f"must be true or false, got {value!r}")

    def size(self, name: builtins.str, default: object = _MISSING, *, minimum: builtins.int = 0) -> builtins.int:
        """A byte size such as ``25MB``, ``512MiB`` or ``1048576``."""
        value = self.raw(name)
        if value is None:
            if default is _MISSING:
                raise ConfigurationError(name, "is required but not set")
            return int(default)  # type: ignore[call-overload]
        parsed = parse_size(value)
        if parsed is None:
            raise ConfigurationError(name, f"must be a byte size like 25MB, got {value!r}")
        _check_range(name, parsed, minimum, None)
        return parsed

    def choice(self, name: builtins.str, choices: tuple[builtins.str, ...], default: builtins.str | None = None) -> builtins.str:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise ConfigurationError(name, "is required but not set")
            return default
        if value.lower() not in choices:
            raise ConfigurationError(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value.lower()

    def url(self, name: builtins.str, default: object = _MISSING, *, schemes: tuple[builtins.str, ...] = ("http", "https")) -> builtins.str:
        value = self.str(name, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigurationError(
                name, f"must be a URL with scheme {' or '.join(schemes)} and a host, got {value!r}"
            )
        return value


def parse_size(text: str) -> int | None:
    """Parse ``25MB``-style sizes; None when the text is not a size."""
    match = _SIZE_RE.match(text)
    if not match:
        return None
    unit = match.group(2).lower()
    if unit not in _SIZE_UNITS:
        return None
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ConfigurationError(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigurationError(name, f"must be at most {maximum}, got {number}")


@dataclass(frozen=True)
class MongoSettings:
    """Where the metadata lives: any MongoDB-wire server (MongoDB, SecantusDB)."""

    uri: str
    database: str
    timeout_ms: int = 5000
    #: MONGODB_OPERATION_TIMEOUT_MS: bound on each operation, end to end (pymongo's
    #: timeoutMS: server selection, the wait for a connection and the answer). None: no
    #: bound beyond the socket timeout. The web tier bounds every call, so a frozen server
    #: costs one request this long; the worker's long aggregations are left unbounded.
    operation_timeout_ms: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, operation_timeout_ms: int | None = None) -> MongoSettings:
        """``operation_timeout_ms`` is the component's default for MONGODB_OPERATION_TIMEOUT_MS."""
        env = Env(environ)
        uri = env.str("MONGODB_URI", "mongodb://127.0.0.1:27017")
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError("MONGODB_URI", "must start with mongodb:// or mongodb+srv://")
        database = env.str("MONGODB_DATABASE", "picsource")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,63}", database):
            raise ConfigurationError(
                "MONGODB_DATABASE", f"must be 1-63 letters, digits, '_' or '-', got {database!r}"
            )
        timeout = env.int("MONGODB_TIMEOUT_MS", 5000, minimum=100, maximum=120_000)
        operation = env.int("MONGODB_OPERATION_TIMEOUT_MS", operation_timeout_ms or 0, minimum=0, maximum=600_000)
        return cls(uri=uri, database=database, timeout_ms=timeout, operation_timeout_ms=operation or None)


@dataclass(frozen=True)
class StorageSettings:
    """An S3-compatible object store (MinIO locally, any S3 in clusters)."""

    endpoint: str
    access_key: str
    secret_key: str = ""
    bucket: str = "picsource"
    region: str = "us-east-1"
    #: S3_TIMEOUT_SECONDS: bound on connecting and on each wait for an answer; a frozen
    #: store then costs one request this long, not tens of seconds (2 s connect at most).
    timeout_seconds: float = 2.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StorageSettings:
        env = Env(environ)
        endpoint = env.url("S3_ENDPOINT", "http://127.0.0.1:9000")
        bucket = env.str("S3_BUCKET", "picsource")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ConfigurationError(
                "S3_BUCKET", f"must be a valid bucket name (3-63 lowercase letters, digits, '.', '-'), got {bucket!r}"
            )
        return cls(
            endpoint=endpoint,
            access_key=env.str("S3_ACCESS_KEY"),
            secret_key=env.str("S3_SECRET_KEY"),
            bucket=bucket,
            region=env.str("S3_REGION", "us-east-1"),
            timeout_seconds=env.float("S3_TIMEOUT_SECONDS", 2.5, minimum=0.1, maximum=300),
        )
