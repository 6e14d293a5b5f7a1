"""Cleaning of user-editable image metadata (title, description, tags, visibility, filename).

Pure functions. Too-long input is refused with a clear 400 rather than silently cut,
so what the user typed is what is stored; control characters are dropped (they break
logs and layouts and carry no meaning in a title). Escaping is the templates' job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from picsource_core.images import PRIVATE, VISIBILITIES
from picsource_core.search import normalise_tag
from picsource_web.services.errors import BadRequest

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_TAG = 64
MAX_TAGS = 30
MAX_FILENAME = 255

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _clean(text: str, *, keep_newlines: bool) -> str:
    text = unicodedata.normalize("NFC", text)
    if not keep_newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub("", text).strip()


def clean_title(text: str | None) -> str:
    title = _clean(text or "", keep_newlines=False)
    if len(title) > MAX_TITLE:
        raise BadRequest("title_too_long", f"The title is {len(title)} characters; at most {MAX_TITLE} are allowed.")
    return title


def clean_description(text: str | None) -> str:
    description = _clean((text or "").replace("\r\n", "\n"), keep_newlines=True)
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(
            "description_too_long",
            f"The description is {len(description)} characters; at most {MAX_DESCRIPTION} are allowed.",
        )
    return description


def parse_tags(value: str | Iterable[str] | None) -> list[str]:
    """Tags from "a, b, c" or a list; folded, de-duplicated, order kept."""
    if value is None:
        return []
    raw = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    tags: dict[str, None] = {}
    for item in raw:
        cleaned = _clean(item, keep_newlines=False)
        if not cleaned:
            continue
        if len(cleaned) > MAX_TAG:
            raise BadRequest("tag_too_long", f"Tags are at most {MAX_TAG} characters; {cleaned[:20]!r}… is longer.")
        tag = normalise_tag(cleaned)
        if tag:
            tags.setdefault(tag, None)
    if len(tags) > MAX_TAGS:
        raise BadRequest("too_many_tags", f"At most {MAX_TAGS} tags per image; got {len(tags)}.")
    return list(tags)


def parse_visibility(value: str | None) -> str:
    if value is None or value == "":
        return PRIVATE
    if value not in VISIBILITIES:
        raise BadRequest("invalid_visibility", f"Visibility must be one of {', '.join(VISIBILITIES)}.")
    return value


def safe_filename(name: str | None) -> str:
    """The last path component of a client file name, for display and downloads only.

    Storage keys never use it (they come from ids), so '../../etc/passwd' is harmless;
    it is still reduced to 'passwd' so no page or header ever shows a path.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = _clean(base, keep_newlines=False).replace('"', "'")
    base = base.lstrip(".") or ""
    return base[:MAX_FILENAME]


@dataclass(frozen=True)
class ImageMetadata:
    title: str
    description: str
    tags: list[str]
    visibility: str


def parse_metadata(title: str | None, description: str | None, tags: str | Iterable[str] | None,
                   visibility: str | None) -> ImageMetadata:
    return ImageMetadata(
        title=clean_title(title), description=clean_description(description),
        tags=parse_tags(tags), visibility=parse_visibility(visibility),
    )
