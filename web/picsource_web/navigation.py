"""The navigation bar's links, rendered once per (who, where) instead of once per page.

Why: every page renders the links twice (the small screens' menu and the wide one), ~15
links with their active state each: about a tenth of a cached page's CPU. What they show
depends only on who is signed in (name, admin or not), which page this is (endpoint and
blueprint) and the script root, so the HTML is kept under those; the session's CSRF
token (the sign-out form) is a slot filled per request, never kept.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from markupsafe import Markup

from picsource_web.security import csrf_token
from picsource_web.services.listing_cache import ListingCache
from picsource_web.sessions import template_user

#: Stand-in for the session's CSRF token in kept HTML: an HTML comment, inserted
#: unescaped, which nothing escaped (a username) can ever contain.
CSRF_SLOT = Markup("<!--nav csrf slot-->")
#: (user, page) pairs kept; the least recently used go first.
MAX_KEPT = 1024


class Navigation:
    def __init__(self) -> None:
        self.kept: ListingCache[str] = ListingCache(MAX_KEPT, 3600)

    def links(self) -> Markup:
        """The <li> items of the navigation for this request."""
        user = template_user()
        key = (user.id if user else None, user.username if user else None, bool(user and user.is_admin),
               request.endpoint, request.blueprint, request.script_root)
        html = self.kept.get_or_build(key, lambda: render_template(
            "macros/nav_links.html", csrf_token=lambda: CSRF_SLOT))
        return Markup(html.replace(CSRF_SLOT, csrf_token()) if CSRF_SLOT in html else html)


def init_app(app: Flask) -> Navigation:
    nav = Navigation()
    app.jinja_env.globals["nav_links"] = nav.links
    return nav
