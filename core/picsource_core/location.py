"""Location privacy in files: the copy of an original that everyone but its owner gets.

Why a copy and not a rule at download time: presigned URLs hand the object store's
bytes straight to the browser, so whatever a non-owner may download has to exist as an
object. ``without_location`` is the pure rule (bytes in, bytes out, nothing re-encoded:
only metadata bytes change, see picsource_core.location_tags); ``classify`` turns it into
the image document's ``location`` field; ``save_location_free_copy`` is the one place
that stores the copy, used by the upload and by the worker for older images.

The ``location`` field of an image document:

- absent: not checked yet (uploaded before this rule). Nobody but the owner gets the
  original until the worker has checked it; thumbnails are always fine (they are
  re-encoded and carry no metadata).
- ``none``: nothing to remove; everyone who may see the image gets the original.
- ``removed``: the location-free copy is at ``storage.location_free_key``; the owner
  gets the original, everyone else the copy (other EXIF kept).
- ``withheld``: the file carries location that cannot be removed without re-encoding
  it (a broken EXIF block, XMP in UTF-16, a motion photo's video): nobody but the owner
  gets the original; others see the 1280 px and 256 px variants only.

GPS in EXIF, location properties in XMP (exif:GPS*, photoshop:City/State/Country,
Iptc4xmpCore:Location, Iptc4xmpExt:LocationCreated/Shown, drone GPS...) and IPTC-IIM
location datasets are removed; everything else stays.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from picsource_core.image_formats import sniff_bmff
from picsource_core.location_tags import (
    EXIF_HEADER,
    LocationNotRemovable,
    strip_iptc,
    strip_photoshop,
    strip_tiff,
    strip_xmp,
    tiff_at,
    xmp_packets,
)
from picsource_core.storage import ObjectStore, location_free_key

#: The image document field (see the module docstring) and its values.
LOCATION = "location"
NONE = "none"
REMOVED = "removed"
WITHHELD = "withheld"
#: The projection that lets present.object_key decide for any viewer.
LOCATION_FIELDS = {LOCATION: 1}

_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
_PHOTOSHOP = b"Photoshop 3.0\x00"
#: After "ff": a marker (not stuffing, not a restart marker, not fill).
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_TIFF_IN_RAW = re.compile(rb"Exif\x00\x00(?:II\*\x00|MM\x00\*)")


@dataclass(frozen=True)
class Stripped:
    """What ``classify`` found: the document's ``location`` value, and the copy to store
    when it is ``removed``."""

    state: str
    data: bytes | None = None


def without_location(data: bytes, image_format: str) -> bytes | None:
    """``data`` (a file of Pillow format ``image_format``) with every location tag
    removed, or None when it carries none. Lossless: only metadata bytes change.
    LocationNotRemovable when location is there but cannot be removed this way."""
    edit = _EDITORS.get(image_format.upper())
    if edit is None:
        raise LocationNotRemovable(f"{image_format} files are not edited")
    result = edit(data)
    if result is not None and edit(result) is not None:  # a second pass must find nothing
        raise LocationNotRemovable("location remained after removing it")
    return result


def classify(data: bytes, image_format: str) -> Stripped:
    """The ``location`` state of a file and, when ``removed``, the location-free copy."""
    try:
        copy = without_location(data, image_format)
    except LocationNotRemovable:
        return Stripped(WITHHELD)
    return Stripped(NONE) if copy is None else Stripped(REMOVED, copy)


def sniff_format(data: bytes) -> str:
    """The container of ``data`` by its magic bytes, for documents that lack ``format``."""
    if data[:2] == b"\xff\xd8":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] == b"GIF8":
        return "GIF"
    return sniff_bmff(data[:64]) or ""  # HEIF or AVIF by the brand table


def save_location_free_copy(store: ObjectStore, image_id: object, data: bytes, image_format: str,
                            content_type: str) -> str:
    """Classify an original (of ``image_format``, or what its bytes say when that is
    empty), store its location-free copy when there is one (same content type), and
    return the ``location`` value for its document."""
    found = classify(data, image_format or sniff_format(data))
    if found.data is not None:
        store.put_bytes(location_free_key(image_id), found.data, content_type)
    return found.state


# --- containers -----------------------------------------------------------------------
def _jpeg(data: bytes) -> bytes | None:
    """APP1 Exif and XMP (standard and extended), APP13 IPTC of the first image; then
    whatever follows it (a multi-picture file's further images, a motion photo)."""
    buf = bytearray(data)
    if buf[:2] != b"\xff\xd8":
        raise LocationNotRemovable("not a JPEG stream")
    changed, pos, extended = False, 2, []
    while pos + 4 <= len(buf):
        marker = buf[pos + 1]
        if buf[pos] != 0xFF:
            raise LocationNotRemovable("a JPEG segment does not start with a marker")
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            pos += 2
            break
        size = struct.unpack_from(">H", buf, pos + 2)[0]
        body, end = pos + 4, pos + 2 + size
        if end > len(buf):
            raise LocationNotRemovable("a JPEG segment runs past the end of the file")
        if marker == 0xE1 and buf.startswith(EXIF_HEADER, body):
            changed |= strip_tiff(buf, body + 6, end)
        elif marker == 0xE1 and buf.startswith(_XMP_APP1, body):
            changed |= strip_xmp(buf, body + len(_XMP_APP1), end)
        elif marker == 0xE1 and buf.startswith(_XMP_EXTENSION, body):
            extended.append((body + len(_XMP_EXTENSION) + 40, end))  # GUID, length, offset
        elif marker == 0xED and buf.startswith(_PHOTOSHOP, body):
            changed |= strip_photoshop(buf, body + len(_PHOTOSHOP), end)
        pos = end
        if marker == 0xDA:  # entropy-coded data up to the next real marker
            found = _MARKER.search(buf, pos)
            pos = found.start() if found else len(buf)
    changed |= _strip_split_xmp(buf, extended)
    changed |= _scan(buf, pos, len(buf))
    return bytes(buf) if changed else None


def _strip_split_xmp(buf: bytearray, pieces: list[tuple[int, int]]) -> bool:
    """Extended XMP is one packet cut into segments: strip it whole, then put the pieces
    back where they were (same lengths)."""
    if not pieces:
        return False
    whole = bytearray(b"".join(buf[lo:hi] for lo, hi in pieces))
    if not strip_xmp(whole, 0, len(whole)):
        return False
    at = 0
    for lo, hi in pieces:
        buf[lo:hi] = whole[at:at + hi - lo]
        at += hi - lo
    return True


def _scan(buf: bytearray, start: int, end: int) -> bool:
    """Metadata without a structure we parse around it (GIF, HEIF/AVIF boxes, what
    follows a JPEG): every EXIF block found by its header and every XMP packet. A
    QuickTime location atom (a motion photo's video) cannot be edited here."""
    changed = False
    for found in _TIFF_IN_RAW.finditer(buf, start, end):
        changed |= strip_tiff(buf, found.start() + 6, end)
    for lo, hi in xmp_packets(buf[start:end]):
        changed |= strip_xmp(buf, start + lo, start + hi)
    if b"\xa9xyz" in buf[start:end]:
        raise LocationNotRemovable("an embedded video carries a location")
    return changed


def _raw(data: bytes) -> bytes | None:
    """GIF (XMP in an application extension), HEIF and AVIF (Exif and XMP items)."""
    buf = bytearray(data)
    changed = _scan(buf, 0, len(buf))
    if re.search(rb"infe.{4,24}Exif", buf, re.S) and not _TIFF_IN_RAW.search(buf):
        raise LocationNotRemovable("an Exif item without the header this scan finds")
    return bytes(buf) if changed else None


def _webp(data: bytes) -> bytes | None:
    """The EXIF and XMP chunks of the RIFF container, edited in place (sizes unchanged)."""
    buf = bytearray(data)
    changed, pos = False, 12
    while pos + 8 <= len(buf):
        kind, size = bytes(buf[pos:pos + 4]), struct.unpack_from("<I", buf, pos + 4)[0]
        body, end = pos + 8, min(len(buf), pos + 8 + size)
        if kind == b"EXIF":
            changed |= strip_tiff(buf, tiff_at(buf, body), end)
        elif kind == b"XMP ":
            changed |= strip_xmp(buf, body, end)
        pos = end + size % 2
    return bytes(buf) if changed else None


def _png(data: bytes) -> bytes | None:
    """eXIf, XMP in iTXt, and ImageMagick's hex "Raw profile type" text chunks; a chunk
    that changes is written again with its new length and CRC."""
    out, pos, changed = bytearray(data[:8]), 8, False
    while pos + 12 <= len(data):
        size, kind = struct.unpack_from(">I", data, pos)[0], data[pos + 4:pos + 8]
        body = bytearray(data[pos + 8:pos + 8 + size])
        if kind == b"eXIf" and strip_tiff(body, tiff_at(body, 0), len(body)):
            edited: bytes | None = bytes(body)
        else:
            edited = _png_text(kind, bytes(body)) if kind in (b"tEXt", b"zTXt", b"iTXt") else None
        if edited is None:
            out += data[pos:pos + 12 + size]
        else:
            out += struct.pack(">I", len(edited)) + kind + edited
            out += struct.pack(">I", zlib.crc32(kind + edited))
            changed = True
        pos += 12 + size
        if kind == b"IEND":
            break
    out += data[pos:]
    return bytes(out) if changed else None


def _png_text(kind: bytes, body: bytes) -> bytes | None:
    """A text chunk with location removed from the XMP or EXIF it holds, or None."""
    keyword, _, rest = body.partition(b"\x00")
    if kind == b"tEXt":
        head, text, packed = b"", rest, False
    elif kind == b"zTXt":
        head, text, packed = rest[:1], zlib.decompress(rest[1:]), True
    else:
        flag, method, tail = rest[:1], rest[1:2], rest[2:]
        lang, _, tail = tail.partition(b"\x00")
        translated, _, text = tail.partition(b"\x00")
        head, packed = flag + method + lang + b"\x00" + translated + b"\x00", flag == b"\x01"
        text = zlib.decompress(text) if packed else text
    edited = _edit_hex_profile(text) if keyword.startswith(b"Raw profile type ") else None
    if edited is None and b"<x:xmpmeta" in text:
        buf = bytearray(text)
        edited = bytes(buf) if any([strip_xmp(buf, lo, hi) for lo, hi in xmp_packets(buf)]) else None
    if edited is None:
        return None
    return keyword + b"\x00" + head + (zlib.compress(edited) if packed else edited)


def _edit_hex_profile(text: bytes) -> bytes | None:
    """ImageMagick's "\\nexif\\n  <length>\\n<hex lines>": decode, edit, write the hex
    digits back in the same layout."""
    lines = text.split(b"\n")
    if len(lines) < 4:
        return None
    payload = bytearray(bytes.fromhex(b"".join(lines[3:]).decode("ascii", "replace")))
    if _TIFF_IN_RAW.match(payload) or payload[:2] in (b"II", b"MM"):
        changed = strip_tiff(payload, tiff_at(payload, 0), len(payload))
    elif payload[:4] == b"8BIM":  # "Raw profile type 8bim"/"iptc": Photoshop resources
        changed = strip_photoshop(payload, 0, len(payload))
    elif payload[:1] == b"\x1c":  # bare IPTC-IIM
        changed = strip_iptc(payload, 0, len(payload))
    else:
        changed = any([strip_xmp(payload, lo, hi) for lo, hi in xmp_packets(payload)])
    if not changed:
        return None
    digits = iter(payload.hex().encode())
    head = b"\n".join(lines[:3]) + b"\n"
    body = bytes(next(digits) if chr(c) in "0123456789abcdefABCDEF" else c
                 for c in b"\n".join(lines[3:]))
    return head + body


_EDITORS: dict[str, Callable[[bytes], bytes | None]] = {
    "JPEG": _jpeg, "MPO": _jpeg, "PNG": _png, "WEBP": _webp, "GIF": _raw, "HEIF": _raw,
    "HEIC": _raw, "AVIF": _raw,
}
