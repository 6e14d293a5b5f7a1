"""Accounts: sign-up, sign-in, the admin role and the viewer identity used everywhere else.

A ``Viewer`` (who is asking) is passed into every image query, so visibility is decided
in one place and the same for HTML pages and the JSON API. Sign-in returns the same
answer (None) for an unknown user and a wrong password, after the same hashing cost.

Admin rights follow the configured secret, not the name: the configured account names
are reserved at sign-up, and ``ensure_account`` grants admin to an existing account only
when ADMIN_PASSWORD verifies against it (see its docstring for why it logs instead of
refusing to start).

Under ``SIGNUP=approval`` a new account is stored with ``approval: "pending"``: it exists
(the name is taken) but cannot sign in, and ``get`` does not return it, so no session or
token can act for it, until the admin approves it (the field is removed) or rejects it
(the account is deleted). Accounts without the field are approved, so existing ones are
unaffected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from picsource_core import stamps
from picsource_core.mongo import USERS, Document
from picsource_core.queue import utcnow
from picsource_web.services.errors import BadRequest, Conflict, ServiceError
from picsource_web.services.passwords import (
    DEFAULT_COST,
    ScryptCost,
    dummy_hash,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from picsource_web.settings import Account

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
#: The field that marks an account waiting for approval; absent means approved.
APPROVAL, PENDING = "approval", "pending"
NOT_PENDING: dict[str, Any] = {APPROVAL: {"$ne": PENDING}}

USERNAME_HINT = "3-32 characters: lowercase letters, digits, '.', '_' or '-'; starting with a letter or digit."


@dataclass(frozen=True)
class User:
    id: ObjectId
    username: str
    is_admin: bool
    created_at: datetime
    session_epoch: int = 0
    #: Waiting for the admin's approval (SIGNUP=approval): may not sign in yet.
    pending: bool = False
    # This user's listing stamp as loaded with the request (picsource_core.stamps): cached
    # "mine" pages are keyed by it, so they need no extra round trip to validate.
    listing_stamp: str = stamps.UNSET

    @classmethod
    def from_doc(cls, doc: Document) -> User:
        return cls(
            id=doc["_id"], username=doc["username"], is_admin=bool(doc.get("is_admin")),
            created_at=doc.get("created_at") or utcnow(), session_epoch=int(doc.get("session_epoch", 0)),
            listing_stamp=stamps.owner_stamp(doc), pending=doc.get(APPROVAL) == PENDING,
        )


class AccountPending(ServiceError):
    """The password was right, but the admin has not approved the account yet."""

    def __init__(self) -> None:
        super().__init__(403, "account_pending", "Your account is waiting for approval by an "
                         "administrator. You can sign in once it is approved.")


@dataclass(frozen=True)
class Viewer:
    """Who is asking: anonymous (user None) or a signed-in user."""

    user: User | None = None

    @property
    def user_id(self) -> ObjectId | None:
        return self.user.id if self.user else None

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)


ANONYMOUS = Viewer()


def normalise_username(username: str) -> str:
    return username.strip().lower()


def username_problems(username: str) -> list[str]:
    if not USERNAME_RE.fullmatch(username):
        return [f"Username must be {USERNAME_HINT}"]
    return []


def parse_object_id(value: object) -> ObjectId | None:
    """An ObjectId from untrusted text, or None (callers answer 404, never 500)."""
    if isinstance(value, ObjectId):
        return value
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class UserService:
    """``reserved``: configured usernames nobody may sign up with. ``on_password_change``
    runs after every password change (the container revokes the user's API tokens)."""

    def __init__(self, db: Database[Document], *, cost: ScryptCost = DEFAULT_COST,
                 reserved: Iterable[str] = (),
                 on_password_change: Callable[[ObjectId], None] | None = None) -> None:
        self._users = db[USERS]
        self._cost = cost
        self._reserved = frozenset(normalise_username(name) for name in reserved)
        self._on_password_change = on_password_change

    def sign_up(self, username: str, password: str, *, pending: bool = False) -> User:
        """``create`` for the public sign-up form: configured account names are refused, so
        nobody can take the admin name while start-up work is deferred. ``pending``: the
        account waits for the admin's approval before it can sign in."""
        self.check_new(username, password)
        return self.create(username, password, pending=pending)

    def check_new(self, username: str, password: str) -> None:
        """Every refusal ``sign_up`` would give that needs no write (before an invite is
        claimed for it): reserved name, bad username or password."""
        name = normalise_username(username)
        if name in self._reserved:
            raise Conflict("username_reserved", f"The username {name!r} is reserved.")
        problems = username_problems(name) + password_problems(password, name)
        if problems:
            raise BadRequest("invalid_account", " ".join(problems))

    def create(self, username: str, password: str, *, is_admin: bool = False,
               pending: bool = False) -> User:
        """Create an account; BadRequest listing every problem, Conflict when the name is taken."""
        name = normalise_username(username)
        problems = username_problems(name) + password_problems(password, name)
        if problems:
            raise BadRequest("invalid_account", " ".join(problems))
        doc: dict[str, Any] = {
            "username": name, "username_key": name, "password_hash": hash_password(password, self._cost),
            "is_admin": is_admin, "created_at": utcnow(), "session_epoch": 0,
        }
        if pending:
            doc[APPROVAL] = PENDING
        try:
            doc["_id"] = self._users.insert_one(doc).inserted_id
        except DuplicateKeyError:
            raise Conflict("username_taken", f"The username {name!r} is already taken.") from None
        return User.from_doc(doc)

    def authenticate(self, username: str, password: str) -> User | None:
        """The account, or None for a wrong name or password; AccountPending (403) when the
        password is right but the account awaits approval (said only to its owner)."""
        doc = self._users.find_one({"username_key": normalise_username(username)})
        if doc is None:
            verify_password(password, dummy_hash(self._cost))  # same cost as a real check
            return None
        stored = str(doc.get("password_hash", ""))
        if not verify_password(password, stored):
            return None
        if needs_rehash(stored, self._cost):  # older parameters: upgrade while we know the password
            self._users.update_one({"_id": doc["_id"], "password_hash": stored},
                                   {"$set": {"password_hash": hash_password(password, self._cost)}})
        if doc.get(APPROVAL) == PENDING:
            raise AccountPending()
        return User.from_doc(doc)

    def get(self, user_id: object) -> User | None:
        """An approved account by id (a pending one acts for nobody: None).

        Every signed-in request reads its account here, so the read is by ``_id`` alone and
        whole: the approval is checked on the document, and the password hash (a few dozen
        bytes) is left out of the User, not out of the reply. On SecantusDB a filter beyond
        ``_id`` and an exclusion projection made this read 0.84 instead of 0.57 ms of its
        time, on every page of a signed-in user."""
        oid = parse_object_id(user_id)
        if oid is None:
            return None
        doc = self._users.find_one({"_id": oid})
        return User.from_doc(doc) if doc is not None and doc.get(APPROVAL) != PENDING else None

    def change_password(self, user: User, current: str, new: str) -> User:
        """Change the password and bump the session epoch, signing out other sessions; then
        ``on_password_change`` (API tokens are revoked)."""
        doc = self._users.find_one({"_id": user.id})
        if doc is None or not verify_password(current, str(doc.get("password_hash", ""))):
            raise BadRequest("wrong_password", "The current password is not correct.")
        problems = password_problems(new, user.username)
        if problems:
            raise BadRequest("invalid_password", " ".join(problems))
        self._users.update_one(
            {"_id": user.id},
            {"$set": {"password_hash": hash_password(new, self._cost)}, "$inc": {"session_epoch": 1}},
        )
        if self._on_password_change is not None:
            self._on_password_change(user.id)
        return self.get(user.id) or user

    def end_sessions(self, user_id: ObjectId) -> None:
        """Bump the session epoch: every session cookie issued so far stops working."""
        self._users.update_one({"_id": user_id}, {"$inc": {"session_epoch": 1}})

    def ensure_account(self, account: Account, *, is_admin: bool) -> User:
        """Create a configured account if missing (idempotent across replicas starting together).

        An existing account is made admin only if the configured password verifies
        against it: otherwise someone else registered the name first, so admin is refused
        and an error logged. Not refusing to start: then whoever squatted the name could
        keep the whole gallery down. An account that is already admin stays admin (its
        owner may have changed the password since).
        """
        name = normalise_username(account.username)
        existing = self._users.find_one({"username_key": name})
        if existing is None:
            try:
                return self.create(name, account.password, is_admin=is_admin)
            except Conflict:
                existing = self._users.find_one({"username_key": name})
        assert existing is not None
        if is_admin and not existing.get("is_admin"):
            if not verify_password(account.password, str(existing.get("password_hash", ""))):
                log.error("ADMIN_USERNAME %r belongs to an existing account whose password is not "
                          "ADMIN_PASSWORD: admin rights not granted (choose another ADMIN_USERNAME, "
                          "or sign in as that account and set its password to ADMIN_PASSWORD)", name)
                return User.from_doc(existing)
            self._users.update_one({"_id": existing["_id"]}, {"$set": {"is_admin": True}})
            existing["is_admin"] = True
        return User.from_doc(existing)

    def by_username(self, username: str) -> User | None:
        doc = self._users.find_one({"username_key": normalise_username(username)}, {"password_hash": 0})
        return User.from_doc(doc) if doc else None

    def count(self) -> int:
        """About how many accounts exist (a metadata count: cheap, may lag a moment)."""
        return self._users.estimated_document_count()

    def list_all(self, limit: int = 500) -> list[User]:
        """Approved accounts, oldest first."""
        return [User.from_doc(d) for d in self._users.find(NOT_PENDING, {"password_hash": 0})
                .sort("_id", 1).limit(limit)]

    def list_pending(self, limit: int = 500) -> list[User]:
        """Accounts waiting for approval, oldest first (the admin's queue)."""
        return [User.from_doc(d) for d in self._users.find({APPROVAL: PENDING}, {"password_hash": 0})
                .sort("_id", 1).limit(limit)]

    def approve(self, user_id: ObjectId) -> User | None:
        """Let a pending account sign in; None when it is not pending (gone, or decided)."""
        doc = self._users.find_one_and_update({"_id": user_id, APPROVAL: PENDING},
                                              {"$unset": {APPROVAL: ""}}, projection={"password_hash": 0})
        return User.from_doc({**doc, APPROVAL: None}) if doc else None

    def reject(self, user_id: ObjectId) -> User | None:
        """Delete a pending account (its name becomes free); None when it is not pending.
        A pending account has no images, tokens or sessions, so nothing else is left."""
        doc = self._users.find_one_and_delete({"_id": user_id, APPROVAL: PENDING},
                                              projection={"password_hash": 0})
        return User.from_doc(doc) if doc else None
