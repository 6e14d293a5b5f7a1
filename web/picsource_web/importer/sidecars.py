"""Titles, descriptions and tags from the files exporters leave next to a photo.

- Google Takeout: ``photo.jpg.json`` (or ``photo.jpg.supplemental-metadata.json``) with
  ``title`` and ``description``.
- XMP: ``photo.xmp`` or ``photo.jpg.xmp`` (Lightroom, darktable, digiKam): ``dc:title``,
  ``dc:description`` and ``dc:subject`` (keywords, which become tags).

Why so careful: a sidecar is untrusted input from a folder someone else may have
filled. Each is read only up to ``MAX_SIDECAR_BYTES``; XMP with a DOCTYPE or an ENTITY
declaration is refused before parsing (no entity expansion, no external references:
defusedxml is not a dependency, and xml.etree alone would expand internal entities).
A sidecar that cannot be used is a warning; the photo is imported without it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MAX_SIDECAR_BYTES = 1024 * 1024
# Limits of the web tier's metadata (services/metadata.py): longer values are cut here
# instead of failing the upload with a 400.
MAX_TITLE, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG = 200, 5000, 30, 64

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class SidecarError(ValueError):
    """A sidecar that is refused or unreadable; the message says why."""


@dataclass
class Sidecar:
    """What the sidecars of one photo say; ``used`` and ``warnings`` name the files."""

    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    used: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def json_paths(photo: Path) -> list[Path]:
    return [photo.with_name(photo.name + ".json"),
            photo.with_name(photo.name + ".supplemental-metadata.json")]


def xmp_paths(photo: Path) -> list[Path]:
    return [photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp"),
            photo.with_name(photo.name + ".XMP"), photo.with_suffix(".XMP")]


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(MAX_SIDECAR_BYTES + 1)
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"larger than {MAX_SIDECAR_BYTES:,} bytes")
    return data


def parse_takeout(data: bytes) -> tuple[str, str]:
    """(title, description) of a Google Takeout JSON sidecar."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as err:
        raise SidecarError(f"not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise SidecarError("not a JSON object")
    title, description = doc.get("title"), doc.get("description")
    return (title if isinstance(title, str) else "",
            description if isinstance(description, str) else "")


def _alt_text(element: ET.Element | None) -> str:
    """The x-default (else first) rdf:li of an rdf:Alt, or the element's own text."""
    if element is None:
        return ""
    items = list(element.iter(f"{_RDF}li"))
    for item in items:
        if item.get(_XML_LANG) == "x-default":
            return (item.text or "").strip()
    return ((items[0].text if items else element.text) or "").strip()


def parse_xmp(data: bytes) -> tuple[str, str, list[str]]:
    """(title, description, subjects) of an XMP packet; refuses DTDs and entities."""
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise SidecarError("refused: contains a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise SidecarError(f"not valid XML ({err})") from None
    title = _alt_text(root.find(f".//{_DC}title"))
    description = _alt_text(root.find(f".//{_DC}description"))
    subjects: list[str] = []
    for subject in root.iter(f"{_DC}subject"):
        subjects += [(li.text or "").strip() for li in subject.iter(f"{_RDF}li")]
    return title, description, [s for s in subjects if s]


def clean_tags(tags: list[str]) -> list[str]:
    """Tags the server accepts: no commas (the form separates by them), at most 64
    characters each, at most 30, duplicates (ignoring case) dropped, order kept."""
    seen: dict[str, str] = {}
    for tag in tags:
        value = " ".join(tag.replace(",", " ").split())[:MAX_TAG].strip()
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())[:MAX_TAGS]


def read_sidecars(photo: Path) -> Sidecar:
    """Metadata from the photo's sidecars: XMP first, Takeout JSON fills what XMP lacks."""
    found = Sidecar()
    for path in dict.fromkeys(xmp_paths(photo)):
        if path.is_file():
            try:
                title, description, subjects = parse_xmp(_read_bounded(path))
            except (SidecarError, OSError) as err:
                found.warnings.append(f"{path.name}: {err}")
                continue
            found.used.append(path)
            found.title, found.description = found.title or title, found.description or description
            found.tags += subjects
            break
    for path in json_paths(photo):
        if path.is_file():
            try:
                title, description = parse_takeout(_read_bounded(path))
            except (SidecarError, OSError) as err:
                found.warnings.append(f"{path.name}: {err}")
                continue
            found.used.append(path)
            found.title, found.description = found.title or title, found.description or description
            break
    found.title = found.title[:MAX_TITLE]
    found.description = found.description[:MAX_DESCRIPTION]
    return found
