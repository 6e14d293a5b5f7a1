"""Single-use sign-up invites for ``SIGNUP=invite``: the one owner of the invites collection.

Why only a hash: the code is a password for one account; whoever reads the database (a
backup, a support dump) must not be able to sign up with it. Codes carry 80 random bits,
so a fast SHA-256 is enough (nothing to brute-force), and the admin sees a code once.

Why claim, then create, then complete: redeeming must be atomic. ``claim`` marks the
invite used in one conditional update (unused and unexpired), so of two sign-ups with the
same code exactly one gets it, on any replica. If creating the account then fails (the
username is taken), ``release`` gives the invite back, so a typo does not burn it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from picsource_core.mongo import INVITES, Document
from picsource_web.services.errors import BadRequest, ServiceError

#: Unambiguous letters and digits (no 0/O, 1/I/L): codes are read aloud and typed.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_GROUPS, _GROUP_LEN = 4, 4
MAX_DAYS = 90


class InviteRefused(ServiceError):
    """A used or expired invite: 403 with a message that says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(403, reason, message)


@dataclass(frozen=True)
class Invite:
    id: ObjectId
    created_at: datetime
    expires_at: datetime
    created_by: str
    note: str
    used_at: datetime | None
    used_by: str | None

    @classmethod
    def from_doc(cls, doc: Document) -> Invite:
        return cls(id=doc["_id"], created_at=doc["created_at"], expires_at=doc["expires_at"],
                   created_by=str(doc.get("created_by", "")), note=str(doc.get("note", "")),
                   used_at=doc.get("used_at"), used_by=doc.get("used_by"))

    def state(self, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= now else "open"


@dataclass(frozen=True)
class Claim:
    """An invite held by one sign-up in progress (``token`` tells it from a later claim)."""

    invite_id: ObjectId
    token: str


def parse_days(text: str | None) -> int:
    """Days an invite stays valid, from form text (ASCII digits, 1 to MAX_DAYS); else 400."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_DAYS):
        raise BadRequest("invalid_days", f"days: an invite is valid for 1 to {MAX_DAYS} days.")
    return int(text)


def new_code() -> str:
    """``ABCD-EFGH-JKMN-PQRS``: 16 characters of a 31-letter alphabet (79 bits)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(chars[i:i + _GROUP_LEN] for i in range(0, len(chars), _GROUP_LEN))


def normalise_code(code: str) -> str:
    """What the user typed, without spaces and dashes and in capitals."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


class InviteService:
    def __init__(self, db: Database[Document], clock: Callable[[], float] = time.time) -> None:
        self._invites = db[INVITES]
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def create(self, created_by: str, *, days: int = 7, note: str = "") -> tuple[str, Invite]:
        """A new invite valid for ``days``; returns the code (shown once) and the invite."""
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest("invalid_days", f"days: an invite is valid for 1 to {MAX_DAYS} days.")
        code, now = new_code(), self.now()
        doc: Document = {"code_hash": code_hash(code), "created_at": now,
                         "expires_at": now + timedelta(days=days), "created_by": created_by,
                         "note": note.strip()[:200], "used_at": None, "used_by": None}
        doc["_id"] = self._invites.insert_one(doc).inserted_id
        return code, Invite.from_doc(doc)

    def claim(self, code: str) -> Claim:
        """Take the invite for one sign-up, atomically; a clear 400/403 when it cannot be."""
        if not normalise_code(code):
            raise BadRequest("invite_required", "An invite code is required to sign up here.")
        digest, now, token = code_hash(code), self.now(), secrets.token_hex(8)
        doc = self._invites.find_one_and_update(
            {"code_hash": digest, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now, "claim": token}}, projection={"_id": 1},
        )
        if doc is not None:
            return Claim(invite_id=doc["_id"], token=token)
        found = self._invites.find_one({"code_hash": digest}, {"used_at": 1})
        if found is None:
            raise BadRequest("invite_invalid", "That invite code is not valid. Check it and try again.")
        if found.get("used_at") is not None:
            raise InviteRefused("invite_used", "That invite code has already been used.")
        raise InviteRefused("invite_expired", "That invite code has expired. Ask for a new one.")

    def complete(self, claim: Claim, username: str) -> None:
        """Record who used the invite (for the admin's list)."""
        self._invites.update_one({"_id": claim.invite_id, "claim": claim.token},
                                 {"$set": {"used_by": username}})

    def release(self, claim: Claim) -> None:
        """Give the invite back after the sign-up failed (only if this sign-up still holds it)."""
        self._invites.update_one({"_id": claim.invite_id, "claim": claim.token, "used_by": None},
                                 {"$set": {"used_at": None}, "$unset": {"claim": ""}})

    def list_recent(self, limit: int = 100) -> list[Invite]:
        return [Invite.from_doc(d) for d in self._invites.find({}, {"code_hash": 0})
                .sort("created_at", -1).limit(limit)]

    def revoke(self, invite_id: ObjectId) -> bool:
        """Delete an unused invite; False when it is gone or already used."""
        return bool(self._invites.delete_one({"_id": invite_id, "used_at": None}).deleted_count)
