"""Password hashing with scrypt (memory-hard, in the standard library) and the policy.

Why scrypt from hashlib: it is memory-hard like argon2 but needs no extra dependency.
Hashes are self-describing (``scrypt$n$r$p$salt$hash``) so the cost can be raised later
without invalidating stored hashes: a sign-in re-hashes a password whose stored hash
carries other parameters (``needs_rehash``).

The default cost is the OWASP Password Storage Cheat Sheet's scrypt setting (N=2^17,
r=8, p=1): 128 MiB and about half a second of one core per hash. Only one hash runs at
a time per process, so a burst of sign-ins queues instead of multiplying that memory.
PASSWORD_SCRYPT_N may lower N (tests do, to stay fast); the default stays the OWASP one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters; memory per hash is 128 * r * n bytes."""

    n: int
    r: int
    p: int


DEFAULT_COST = ScryptCost(n=2**17, r=8, p=1)  # OWASP: 2**17 * 8 * 128 bytes = 128 MiB
MIN_N = 2**14
_DKLEN = 32
# OpenSSL needs 128*r*(n+p+2) bytes; a little above the default's 128 MiB, and a bound
# on what a stored hash may ask for.
_MAXMEM = 129 * 1024 * 1024
# One scrypt at a time per process: 128 MiB each, so concurrent sign-ins must not stack.
_HASHING = threading.Lock()


def _scrypt(password: bytes, salt: bytes, cost: ScryptCost, dklen: int) -> bytes:
    with _HASHING:
        return hashlib.scrypt(password, salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=dklen,
                              maxmem=_MAXMEM)


MIN_LENGTH = 10
MAX_LENGTH = 1024

POLICY_HINTS = (
    f"At least {MIN_LENGTH} characters.",
    "Not your username, and not one character repeated.",
    "A passphrase of several words is easier to remember than symbols.",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password.encode("utf-8"), salt, cost, _DKLEN)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


def needs_rehash(encoded: str, cost: ScryptCost) -> bool:
    """True when a stored hash was made with other parameters than ``cost``."""
    scheme, _, rest = encoded.partition("$")
    return scheme != "scrypt" or not rest.startswith(f"{cost.n}${cost.r}${cost.p}$")


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check; False for any malformed stored hash rather than raising."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(password.encode("utf-8")[:MAX_LENGTH * 4], _unb64(salt),
                         ScryptCost(n=int(n), r=int(r), p=int(p)), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def password_problems(password: str, username: str = "") -> list[str]:
    """Human-readable reasons the password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Password must be at most {MAX_LENGTH} characters long.")
    if password and len(set(password)) == 1:
        problems.append("Password must not be a single repeated character.")
    if username and password.lower() == username.lower():
        problems.append("Password must not be the same as the username.")
    return problems


@functools.cache
def dummy_hash(cost: ScryptCost = DEFAULT_COST) -> str:
    """A hash of a random password, verified against when the user does not exist, so a
    sign-in for an unknown name costs the same time as one for a known name."""
    return hash_password(secrets.token_urlsafe(16), cost)
