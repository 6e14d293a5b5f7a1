"""The shared format table: ISO-BMFF brands tell HEIC from other HEIF and from AVIF, and
one registration lets Pillow open HEIC (pure: no servers)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from picsource_core.image_formats import brands, content_type, register_openers, sniff_bmff
from tests.support import images as samples


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\0\0\0\x08meta"


def test_brands_reads_the_major_and_the_compatible_brands() -> None:
    assert brands(_ftyp(b"heic", b"mif1", b"heic", b"miaf")) == (
        b"heic", frozenset({b"mif1", b"heic", b"miaf"}))
    assert brands(b"\xff\xd8\xff\xe0" + b"\0" * 40) == (b"", frozenset())
    assert brands(b"\0\0\0\x18ftyp") == (b"", frozenset())  # cut before the major brand


@pytest.mark.parametrize(("head", "fmt", "mime"), [
    (_ftyp(b"heic", b"mif1", b"heic"), "HEIF", "image/heic"),  # iPhone photos
    (_ftyp(b"heix", b"mif1"), "HEIF", "image/heic"),  # 10-bit HEVC
    (_ftyp(b"mif1", b"mif1", b"heic"), "HEIF", "image/heic"),  # generic brand, HEVC inside
    (_ftyp(b"mif1", b"mif1", b"miaf"), "HEIF", "image/heif"),  # codec not named: plain HEIF
    (_ftyp(b"msf1", b"msf1"), "HEIF", "image/heif"),
    (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), "AVIF", "image/avif"),
    (_ftyp(b"avis", b"avis", b"msf1"), "AVIF", "image/avif"),
])
def test_sniff_and_content_type_follow_the_brands(head: bytes, fmt: str, mime: str) -> None:
    assert sniff_bmff(head) == fmt
    assert content_type(fmt, head) == mime


def test_other_formats_take_the_table_type_and_unknown_bytes_are_octet_stream() -> None:
    assert sniff_bmff(_ftyp(b"isom", b"mp41")) is None  # an MP4 video is not an image
    assert content_type("JPEG") == "image/jpeg" and content_type("WEBP") == "image/webp"
    assert content_type("HEIF", b"") == "image/heif"
    assert content_type("TIFF") == "application/octet-stream"


def test_a_real_heic_is_named_heic_by_its_first_bytes() -> None:
    data = samples.heic()
    assert sniff_bmff(data[:64]) == "HEIF" and content_type("HEIF", data[:64]) == "image/heic"


def test_registration_lets_pillow_open_heic_with_pi_heif_and_is_idempotent() -> None:
    import pi_heif

    register_openers()
    before = list(Image.ID)
    register_openers()
    assert Image.ID == before and Image.ID.count("HEIF") == 1
    assert Image.OPEN["HEIF"][0] is pi_heif.HeifImageFile
    # Pillow's AVIF plugin comes first, so it sees AV1-coded "mif1" files before pi-heif.
    assert Image.ID.index("AVIF") < Image.ID.index("HEIF")
    with Image.open(io.BytesIO(samples.heic(Image.new("RGB", (40, 30), (10, 200, 30))))) as im:
        assert (im.format, im.size) == ("HEIF", (40, 30))
        im.load()
        r, g, b = im.getpixel((20, 15))  # type: ignore[misc]
        assert abs(r - 10) < 12 and abs(g - 200) < 12 and abs(b - 30) < 12


def test_registration_puts_heif_after_pillows_avif_whoever_registered_it_first() -> None:
    """A HEIF plugin registered before Pillow loaded its own (imageio's, at import) sat
    ahead of AVIF, so an AV1-coded "mif1" file went to pi-heif, which cannot decode it."""
    register_openers()
    Image.ID.remove("HEIF")
    Image.ID.insert(0, "HEIF")  # where a plugin registered before Image.init() ends up
    register_openers()
    assert Image.ID.index("AVIF") < Image.ID.index("HEIF") and Image.ID.count("HEIF") == 1


def test_registration_takes_the_slot_back_from_another_heif_plugin() -> None:
    """imageio (through scikit-image) registers pillow-heif's plugin whenever it reads."""
    import pi_heif
    import pillow_heif

    pillow_heif.register_heif_opener()
    assert Image.OPEN["HEIF"][0] is not pi_heif.HeifImageFile
    register_openers()
    assert Image.OPEN["HEIF"][0] is pi_heif.HeifImageFile
