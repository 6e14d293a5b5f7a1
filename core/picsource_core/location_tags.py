"""Remove location from the metadata blocks image files carry: EXIF (TIFF structure),
XMP packets and IPTC-IIM records. Pure byte editing, no Pillow.

Why every edit keeps the length: the blocks sit inside containers (JPEG segments, PNG
and WebP chunks, ISOBMFF boxes, a GIF extension, multi-picture JPEGs with offsets to
the images after the first) whose sizes and offsets stay valid only if no byte moves.
So nothing is cut out: the GPS pointer entry is removed from its IFD by shifting the
later entries up (offsets in TIFF are absolute, so nothing else changes) and the GPS
IFD with its values is overwritten with zeros; an XMP property is overwritten with
spaces (whitespace is legal between XML elements and attributes); an IPTC location
value with spaces. Every function edits a ``bytearray`` in place between ``start``
and ``end`` and returns whether it changed anything.
"""

from __future__ import annotations

import re
import struct

GPS_IFD = 0x8825
XMP_TAG = 0x02BC  # XMLPacket: XMP stored inside TIFF/EXIF
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
               16: 8, 17: 8, 18: 8}
EXIF_HEADER = b"Exif\x00\x00"


class LocationNotRemovable(ValueError):
    """The file carries location that cannot be removed without re-encoding it."""


# --- EXIF (TIFF) ----------------------------------------------------------------------
class _Tiff:
    """A TIFF structure inside ``buf[start:end]``; offsets are relative to ``start``."""

    def __init__(self, buf: bytearray, start: int, end: int) -> None:
        if end - start < 8 or bytes(buf[start:start + 2]) not in (b"II", b"MM"):
            raise LocationNotRemovable("the EXIF block has no TIFF header")
        self.buf, self.start, self.end = buf, start, end
        self.order = "<" if buf[start:start + 2] == b"II" else ">"

    def read(self, fmt: str, offset: int) -> int:
        if offset < 0 or self.start + offset + struct.calcsize(fmt) > self.end:
            raise LocationNotRemovable("the EXIF block points outside itself")
        return int(struct.unpack_from(self.order + fmt, self.buf, self.start + offset)[0])

    def zero(self, offset: int, size: int) -> None:
        """Zeros over ``size`` bytes at ``offset``, clipped to the block (never the header)."""
        lo = max(self.start + 8, self.start + offset)
        hi = min(self.end, self.start + offset + size)
        if lo < hi:
            self.buf[lo:hi] = bytes(hi - lo)

    def blank_ifd(self, ifd: int) -> None:
        """Overwrite an IFD and the values it points to with zeros."""
        try:
            count = self.read("H", ifd)
        except LocationNotRemovable:
            return  # a pointer to nowhere: removing the pointer is all there is to do
        for i in range(count):
            entry = ifd + 2 + 12 * i
            try:
                size = _TYPE_SIZES.get(self.read("H", entry + 2), 1) * self.read("I", entry + 4)
                if size > 4:
                    self.zero(self.read("I", entry + 8), size)
            except LocationNotRemovable:
                break
        self.zero(ifd, 2 + 12 * count + 4)

    def drop_entry(self, ifd: int, index: int, count: int) -> None:
        """Remove entry ``index``: later entries and the next-IFD offset move up 12 bytes,
        the freed 12 bytes at the end become zeros, the count goes down by one."""
        first = self.start + ifd + 2 + 12 * index
        tail_end = self.start + ifd + 2 + 12 * count + 4
        self.buf[first:tail_end - 12] = self.buf[first + 12:tail_end]
        self.buf[tail_end - 12:tail_end] = bytes(12)
        struct.pack_into(self.order + "H", self.buf, self.start + ifd, count - 1)


def strip_tiff(buf: bytearray, start: int, end: int) -> bool:
    """Remove the GPS IFD from the TIFF structure in ``buf[start:end]``; XMP kept inside
    it (tag 700) loses its location too. LocationNotRemovable if the structure is too
    broken to tell."""
    tiff = _Tiff(buf, start, end)
    changed = False
    ifd, seen = tiff.read("I", 4), set[int]()
    while ifd and ifd not in seen and len(seen) < 8:  # IFD0, IFD1 (its thumbnail), ...
        try:
            count = tiff.read("H", ifd)
            tiff.read("I", ifd + 2 + 12 * count)  # the whole IFD is inside the block
        except LocationNotRemovable:
            if not seen:
                raise  # IFD0, where the GPS pointer lives, cannot be read
            break  # a broken link after IFD0: no reader gets further either
        seen.add(ifd)
        for index in reversed(range(count)):
            entry = ifd + 2 + 12 * index
            tag = tiff.read("H", entry)
            if tag == XMP_TAG:
                size = tiff.read("I", entry + 4)
                at = entry + 8 if size <= 4 else tiff.read("I", entry + 8)
                if start + at + size <= end:
                    changed |= strip_xmp(buf, start + at, start + at + size)
            elif tag == GPS_IFD:
                tiff.blank_ifd(tiff.read("I", entry + 8))
                tiff.drop_entry(ifd, index, count)
                count -= 1
                changed = True
        ifd = tiff.read("I", ifd + 2 + 12 * count)
    return changed


def tiff_at(buf: bytes | bytearray, offset: int) -> int:
    """Where the TIFF header of an EXIF payload at ``offset`` starts (after an optional
    "Exif\\0\\0", as JPEG always and WebP/PNG writers sometimes put it)."""
    return offset + 6 if buf[offset:offset + 6] == EXIF_HEADER else offset


# --- XMP ------------------------------------------------------------------------------
#: Location properties by local name, whatever the namespace prefix: exif:GPS*,
#: photoshop:City/State/Country, Iptc4xmpCore:Location/CountryCode, Iptc4xmpExt:
#: LocationCreated/LocationShown, drone-dji:GpsLatitude/AbsoluteAltitude... Matching by
#: local name errs on the side of removing a little too much, never too little.
_NAMES = (rb"(?:GPS\w*|Gps\w*|City|State|Country|CountryCode|CountryName|ProvinceState"
          rb"|Location|LocationCreated|LocationShown|Sublocation|WorldRegion|Latitude"
          rb"|Longitude|Altitude|AbsoluteAltitude|RelativeAltitude)")
_QNAME = rb"[A-Za-z_][\w.-]*:" + _NAMES
_ATTRIBUTE = re.compile(rb"(?<=[\s\"'])" + _QNAME + rb"\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_ELEMENT = re.compile(rb"<(" + _QNAME + rb")(?=[\s/>])")


def strip_xmp(buf: bytearray, start: int, end: int) -> bool:
    """Blank every location property of the XMP text in ``buf[start:end]`` (attribute or
    element form, nested structures included). LocationNotRemovable when an element has
    no end, or the packet is in an encoding these patterns cannot read (UTF-16/32)."""
    region = bytes(buf[start:end])
    if b"\x00" in region.strip(b"\x00") and re.search(rb"G\x00?P\x00?S|C\x00i\x00t\x00y", region):
        raise LocationNotRemovable("an XMP packet in UTF-16/32 carries location")
    spans = [m.span() for m in _ATTRIBUTE.finditer(region)]
    pos = 0
    while (match := _ELEMENT.search(region, pos)) is not None:
        close = region.find(b">", match.end())
        if close < 0:
            raise LocationNotRemovable("an XMP element has no end")
        if region[close - 1:close] == b"/":
            stop = close + 1
        else:
            end_tag = b"</" + match.group(1)
            found = re.compile(re.escape(end_tag) + rb"\s*>").search(region, close)
            if found is None:
                raise LocationNotRemovable("an XMP element has no end tag")
            stop = found.end()
        spans.append((match.start(), stop))
        pos = stop
    for lo, hi in spans:
        buf[start + lo:start + hi] = b" " * (hi - lo)
    return bool(spans)


def xmp_packets(buf: bytes | bytearray) -> list[tuple[int, int]]:
    """(start, end) of every XMP packet in raw bytes (for containers where XMP sits as
    plain text without a parsed structure around it: GIF, HEIF, AVIF, file trailers)."""
    spans = []
    pos = 0
    while (at := buf.find(b"<x:xmpmeta", pos)) >= 0:
        stop = buf.find(b"</x:xmpmeta>", at)
        if stop < 0:
            raise LocationNotRemovable("an XMP packet has no end")
        spans.append((at, stop + len(b"</x:xmpmeta>")))
        pos = spans[-1][1]
    return spans


# --- IPTC-IIM (Photoshop's APP13 "8BIM" resource 0x0404) ------------------------------
#: Record 2 datasets that say where: content location code/name, sub-location, city,
#: province/state, country code, country name.
_IPTC_LOCATION = {26, 27, 90, 92, 95, 100, 101}


def strip_iptc(buf: bytearray, start: int, end: int) -> bool:
    """Blank the location datasets of an IPTC-IIM block in ``buf[start:end]``."""
    changed, pos = False, start
    while pos + 5 <= end and buf[pos] == 0x1C:
        record, dataset, size = buf[pos + 1], buf[pos + 2], struct.unpack_from(">H", buf, pos + 3)[0]
        if size & 0x8000:
            raise LocationNotRemovable("an IPTC dataset uses the extended length form")
        lo, hi = pos + 5, pos + 5 + size
        if hi > end:
            raise LocationNotRemovable("an IPTC dataset runs past its block")
        if record == 2 and dataset in _IPTC_LOCATION and buf[lo:hi].strip(b" "):
            buf[lo:hi] = b" " * size
            changed = True
        pos = hi
    return changed


def strip_photoshop(buf: bytearray, start: int, end: int) -> bool:
    """Walk Photoshop image resources ("8BIM" blocks) and strip the IPTC one."""
    changed, pos = False, start
    while pos + 12 <= end and buf[pos:pos + 4] == b"8BIM":
        resource = struct.unpack_from(">H", buf, pos + 4)[0]
        name = buf[pos + 6] + 1
        name += name % 2
        size_at = pos + 6 + name
        if size_at + 4 > end:
            break
        size = struct.unpack_from(">I", buf, size_at)[0]
        data = size_at + 4
        if resource == 0x0404:
            changed |= strip_iptc(buf, data, min(end, data + size))
        pos = data + size + size % 2
    return changed
