"""The navigation bar (picsource_web.navigation) is kept per (who, where) and rendered
once for both menus: each viewer still sees their own links, the page they are on
marked, the admin link only if they are one, and their own session's CSRF token in the
sign-out form."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from picsource_web.settings import Account
from tests.support.web import WebClient

ADMIN = Account("root", "admin passphrase 1")
CURRENT = re.compile(r'<a href="([^"]+)" aria-current="page"')


def _current(page: str) -> set[str]:
    """The links marked as the current page (both menus)."""
    return set(CURRENT.findall(page))


def _nav_token(page: str) -> str:
    match = re.search(r'action="/logout" method="post" class="p-0">\s*<input type="hidden" '
                      r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no sign-out form in the menu"
    return match.group(1)


def test_each_viewer_sees_their_own_menu(make_app: Callable[..., Flask],
                                        web_client: Callable[..., WebClient]) -> None:
    app = make_app(admin=ADMIN)
    alice, again, root, anonymous = web_client(app), web_client(app), web_client(app), web_client(app)
    assert alice.signup("alice").status_code == 302 and again.login("alice").status_code == 302
    assert root.login(ADMIN.username, ADMIN.password).status_code == 302
    for _ in range(2):  # the second round is served from what the first kept
        home = alice.get("/").get_data(as_text=True)
        assert _current(home) == {"/"} and "Sign out (alice)" in home and "/admin" not in home
        assert _current(alice.get("/albums").get_data(as_text=True)) == {"/albums"}
        assert _nav_token(home) == alice.csrf()
        other = again.get("/").get_data(as_text=True)  # the same user and page, another session
        assert _nav_token(other) == again.csrf() != alice.csrf()
        admin = root.get("/").get_data(as_text=True)
        assert 'href="/admin/"' in admin and "Sign out (root)" in admin and "alice" not in admin
        public = anonymous.get("/public").get_data(as_text=True)
        assert _current(public) == {"/public"} and "Create an account" in public and "Sign out" not in public
