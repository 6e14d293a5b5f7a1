"""Password hashing with scrypt (memory-hard, in the standard library) and the policy.

Why scrypt from hashlib: it is memory-hard like argon2 but needs no extra dependency.
Hashes are self-describing (``scrypt$n$r$p$salt$hash``) so the cost can be raised later
without invalidating stored hashes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# 2**14 * 8 * 128 bytes = 16 MiB per hash; ~50 ms on one core.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024

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


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN, maxmem=_MAXMEM
    )
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check; False for any malformed stored hash rather than raising."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8")[:MAX_LENGTH * 4], salt=_unb64(salt), n=int(n), r=int(r),
            p=int(p), dklen=len(expected), maxmem=_MAXMEM,
        )
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
def dummy_hash() -> str:
    """A hash of a random password, verified against when the user does not exist, so a
    sign-in for an unknown name costs the same time as one for a known name."""
    return hash_password(secrets.token_urlsafe(16))
