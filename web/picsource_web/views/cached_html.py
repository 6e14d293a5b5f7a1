"""Rendered tiles through the fragment cache, the same way for every view that caches them.

A fragment is keyed by what it depends on plus the URL signing window its signed URLs
belong to; the previous window's answers while the new one's is rendered, and a fragment
past its time answers while it is rendered again, both on a thread of their own in a copy
of the request's context (services/fragment_cache.py).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from flask import copy_current_request_context
from markupsafe import Markup

from picsource_web.context import current_services


def cached_html(parts: tuple[Hashable, ...], build: Callable[[], Markup]) -> Markup:
    """The HTML ``build`` renders, cached under ``parts`` and the signing window."""
    media, fragments = current_services().media, current_services().fragments
    earlier = media.previous_window()
    return fragments.get_or_build((*parts, media.window()), build,
                                  earlier=None if earlier is None else (*parts, earlier),
                                  off_request=copy_current_request_context)
