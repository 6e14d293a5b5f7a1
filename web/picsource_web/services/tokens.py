"""Personal API tokens: shown once at creation, stored only as a SHA-256 hash.

SHA-256 (not scrypt) is right here: the token is 256 random bits, so there is nothing
to brute-force, and every API request must look it up by hash quickly.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from pymongo.database import Database

from picsource_core.mongo import TOKENS, Document
from picsource_core.queue import utcnow
from picsource_web.services.errors import BadRequest, NotFound
from picsource_web.services.users import parse_object_id

PREFIX = "psk_"
MAX_TOKENS_PER_USER = 50


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiToken:
    id: ObjectId
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def from_doc(cls, doc: Document) -> ApiToken:
        return cls(id=doc["_id"], name=doc.get("name", ""), hint=doc.get("hint", ""),
                   created_at=doc["created_at"], last_used_at=doc.get("last_used_at"))


class TokenService:
    def __init__(self, db: Database[Document]) -> None:
        self.tokens = db[TOKENS]

    def create(self, user_id: ObjectId, name: str) -> tuple[str, ApiToken]:
        """Return (plain token, record); the plain token is never stored or shown again."""
        name = " ".join(name.split())
        if not name or len(name) > 80:
            raise BadRequest("invalid_token_name", "Give the token a name of 1-80 characters.")
        if self.tokens.count_documents({"user_id": user_id}) >= MAX_TOKENS_PER_USER:
            raise BadRequest("too_many_tokens", f"At most {MAX_TOKENS_PER_USER} tokens; revoke one first.")
        plain = PREFIX + secrets.token_urlsafe(32)
        doc = {
            "user_id": user_id, "name": name, "token_hash": hash_token(plain),
            "hint": plain[: len(PREFIX) + 4] + "…", "created_at": utcnow(), "last_used_at": None,
        }
        doc["_id"] = self.tokens.insert_one(doc).inserted_id
        return plain, ApiToken.from_doc(doc)

    def list(self, user_id: ObjectId) -> list[ApiToken]:
        return [ApiToken.from_doc(d) for d in self.tokens.find({"user_id": user_id}).sort("_id", -1)]

    def revoke(self, user_id: ObjectId, token_id: str) -> None:
        oid = parse_object_id(token_id)
        if oid is None or self.tokens.delete_one({"_id": oid, "user_id": user_id}).deleted_count != 1:
            raise NotFound("No such token.")

    def user_for(self, plain: str) -> ObjectId | None:
        """The owner of a presented token, or None; records when it was last used."""
        if not plain.startswith(PREFIX) or len(plain) > 200:
            return None
        doc = self.tokens.find_one_and_update(
            {"token_hash": hash_token(plain)}, {"$set": {"last_used_at": utcnow()}},
            projection={"user_id": 1},
        )
        return doc["user_id"] if doc else None
