"""Personal API tokens: shown once at creation, stored only as a SHA-256 hash.

SHA-256 (not scrypt) is right here: the token is 256 random bits, so there is nothing
to brute-force, and every API request must look it up by hash quickly.

A token may expire (``expires_at``; an expired token is refused like an unknown one) and
may be read-only (scope ``read``: sessions.py refuses it on any unsafe method). Changing
the password revokes every token of the account (``revoke_all``, called by UserService).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from picsource_core.mongo import TOKENS, Document
from picsource_core.queue import utcnow
from picsource_web.services.errors import BadRequest, NotFound
from picsource_web.services.users import parse_object_id

PREFIX = "psk_"
MAX_TOKENS_PER_USER = 50
SCOPES = ("write", "read")  # "write": everything the user may do; "read": safe methods only
MAX_EXPIRY_DAYS = 3650
#: How stale a token's "last used" may be: the settings page shows it to the minute.
#: Recorded on every request, it was a write per API call (every upload of an import).
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiToken:
    id: ObjectId
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    scope: str = "write"
    expires_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: Document) -> ApiToken:
        return cls(id=doc["_id"], name=doc.get("name", ""), hint=doc.get("hint", ""),
                   created_at=doc["created_at"], last_used_at=doc.get("last_used_at"),
                   scope=doc.get("scope", "write"), expires_at=doc.get("expires_at"))

    @property
    def read_only(self) -> bool:
        return self.scope == "read"


@dataclass(frozen=True)
class TokenGrant:
    """What a presented, valid token allows: whose it is and whether it is read-only."""

    user_id: ObjectId
    read_only: bool


def parse_expiry_days(text: str | None) -> int | None:
    """Days until a new token expires from form text; None (never) for an empty value."""
    text = (text or "").strip()
    if not text or text == "never":
        return None
    # ASCII digits only: "²".isdigit() is true but int("²") raises (a 500 before).
    if not (text.isascii() and text.isdigit() and len(text) <= 4) or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise BadRequest("invalid_token_expiry",
                         f"Token expiry must be 1-{MAX_EXPIRY_DAYS} days, or never.")
    return int(text)


class TokenService:
    def __init__(self, db: Database[Document], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.tokens = db[TOKENS]
        self.clock = clock

    def create(self, user_id: ObjectId, name: str, *, scope: str = "write",
               expires_days: int | None = None) -> tuple[str, ApiToken]:
        """Return (plain token, record); the plain token is never stored or shown again."""
        name = " ".join(name.split())
        if not name or len(name) > 80:
            raise BadRequest("invalid_token_name", "Give the token a name of 1-80 characters.")
        if scope not in SCOPES:
            raise BadRequest("invalid_token_scope", "The token scope must be 'write' or 'read'.")
        if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
            raise BadRequest("invalid_token_expiry", f"Token expiry must be 1-{MAX_EXPIRY_DAYS} days, or never.")
        if self.tokens.count_documents({"user_id": user_id}) >= MAX_TOKENS_PER_USER:
            raise BadRequest("too_many_tokens", f"At most {MAX_TOKENS_PER_USER} tokens; revoke one first.")
        plain = PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        doc = {
            "user_id": user_id, "name": name, "token_hash": hash_token(plain),
            "hint": plain[: len(PREFIX) + 4] + "…", "created_at": now, "last_used_at": None,
            "scope": scope, "expires_at": now + timedelta(days=expires_days) if expires_days else None,
        }
        doc["_id"] = self.tokens.insert_one(doc).inserted_id
        return plain, ApiToken.from_doc(doc)

    def list(self, user_id: ObjectId) -> list[ApiToken]:
        return [ApiToken.from_doc(d) for d in self.tokens.find({"user_id": user_id}).sort("_id", -1)]

    def revoke(self, user_id: ObjectId, token_id: str) -> None:
        oid = parse_object_id(token_id)
        if oid is None or self.tokens.delete_one({"_id": oid, "user_id": user_id}).deleted_count != 1:
            raise NotFound("No such token.")

    def revoke_all(self, user_id: ObjectId) -> None:
        """Revoke every token of a user (after a password change)."""
        self.tokens.delete_many({"user_id": user_id})

    def grant_for(self, plain: str) -> TokenGrant | None:
        """What a presented token allows, or None (unknown, revoked or expired); records
        when it was last used."""
        if not plain.startswith(PREFIX) or len(plain) > 200:
            return None
        now = self.clock()
        doc = self.tokens.find_one(
            {"token_hash": hash_token(plain), "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]},
            {"user_id": 1, "scope": 1, "last_used_at": 1},
        )
        if doc is None:
            return None
        last = doc.get("last_used_at")
        if last is None or last <= now - LAST_USED_PRECISION:
            # Guarded by the value read: of requests racing past the minute, one writes.
            self.tokens.update_one({"_id": doc["_id"], "last_used_at": last}, {"$set": {"last_used_at": now}})
        return TokenGrant(user_id=doc["user_id"], read_only=doc.get("scope") == "read")
