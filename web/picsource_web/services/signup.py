"""Sign-up by mode (SIGNUP): the one place that decides who may create an account.

Why here and not in the view: the order matters and is easy to get wrong. Everything that
can be refused without a write is checked first (reserved name, username and password
rules), so an invite is never spent on a form that was going to fail; then the invite is
claimed atomically; then the account is created, and if that fails (the name was taken
meanwhile) the invite is given back.
"""

from __future__ import annotations

from picsource_web.services.errors import ServiceError
from picsource_web.services.invites import InviteService
from picsource_web.services.users import User, UserService


class SignupClosed(ServiceError):
    def __init__(self) -> None:
        super().__init__(403, "signup_closed", "Sign-up is closed on this gallery. "
                         "Ask an administrator for an account.")


def register(users: UserService, invites: InviteService, mode: str, username: str,
             password: str, invite_code: str = "") -> User:
    """Create the account ``mode`` allows: signed in at once (open, invite) or pending
    (approval, ``User.pending``). ServiceError with a clear message otherwise."""
    if mode == "closed":
        raise SignupClosed()
    if mode != "invite":
        return users.sign_up(username, password, pending=mode == "approval")
    users.check_new(username, password)
    claim = invites.claim(invite_code)
    try:
        user = users.sign_up(username, password)
    except BaseException:
        invites.release(claim)
        raise
    invites.complete(claim, user.username)
    return user
