"""Location removed from files without touching pixels (picsource_core.location): real
files written by Pillow with GPS in EXIF and the place in XMP and IPTC, checked by
reading the result back with Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from picsource_core.image_formats import register_openers
from picsource_core.location import (
    NONE,
    REMOVED,
    WITHHELD,
    classify,
    sniff_format,
    without_location,
)
from picsource_core.location_tags import LocationNotRemovable
from picsource_core.storage import image_id_of_key, image_prefixes, location_free_key
from tests.support import images as samples

GPS = 0x8825


def _exif(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def _assert_location_free(original: bytes, copy: bytes | None) -> None:
    """GPS and the XMP place are gone; the camera, the date and the pixels stay."""
    assert copy is not None
    before, after = _exif(original), _exif(copy)
    assert before.get_ifd(GPS) and GPS in before
    assert after.get_ifd(GPS) == {} and GPS not in after
    assert after[0x010F] == "Canon" and after[0x0110] == "Canon EOS 5D Mark IV"
    assert after[0x0131] == "PicSource tests"
    assert after.get_ifd(0x8769)[0x9003] == "2023:07:14 18:30:05"
    for place in samples.XMP_PLACES:
        assert place not in copy, place
    assert b"GPS fix by phone" in original and b"GPS fix by phone" not in copy  # blanked, not just unlinked
    assert b'xmp:Rating="4"' in copy and b"Ann Example" in copy
    assert np.array_equal(_pixels(original), _pixels(copy))
    assert without_location(copy, Image.open(io.BytesIO(copy)).format or "") is None


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_lose_gps_and_xmp_place_in_place(fmt: str) -> None:
    original = samples.located(fmt)
    copy = without_location(original, fmt)
    _assert_location_free(original, copy)
    assert copy is not None and len(copy) == len(original)  # containers untouched


def test_jpeg_image_data_is_byte_identical() -> None:
    original = samples.located("JPEG")
    copy = without_location(original, "JPEG")
    assert copy is not None
    scan = original.index(b"\xff\xda")
    assert copy[scan:] == original[scan:]


def test_png_exif_chunk_and_xmp_text_rewritten_with_valid_crcs() -> None:
    original = samples.located("PNG")
    copy = without_location(original, "PNG")
    _assert_location_free(original, copy)
    assert copy is not None
    with Image.open(io.BytesIO(copy)) as img:
        img.verify()  # every chunk's CRC


def test_png_compressed_xmp_and_hex_exif_profile() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", samples.LOCATED_XMP.decode(), zip=True)
    tiff = samples.located_exif().tobytes()
    hexed = tiff.hex()
    text = f"\nexif\n{len(tiff):8d}\n" + "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72)) + "\n"
    info.add_text("Raw profile type exif", text, zip=True)
    original = samples.encode(samples.noisy_image(5), "PNG", pnginfo=info)
    copy = without_location(original, "PNG")
    assert copy is not None
    with Image.open(io.BytesIO(copy)) as img:
        img.load()
        assert "Paris" not in img.info["XML:com.adobe.xmp"] and 'xmp:Rating="4"' in img.info["XML:com.adobe.xmp"]
        profile = img.info["Raw profile type exif"]
    payload = Image.Exif()
    payload.load(bytes.fromhex("".join(profile.split("\n")[3:])))
    assert payload.get_ifd(GPS) == {} and payload[0x010F] == "Canon"
    assert np.array_equal(_pixels(original), _pixels(copy))


def test_avif_exif_and_xmp_items() -> None:
    original = samples.located("AVIF")
    copy = without_location(original, "AVIF")
    assert copy is not None and len(copy) == len(original)
    assert _exif(copy).get_ifd(GPS) == {} and _exif(copy)[0x0110] == "Canon EOS 5D Mark IV"
    for place in samples.XMP_PLACES:
        assert place not in copy


def test_iptc_city_blanked_caption_kept() -> None:
    original = samples.iptc_jpeg(samples.jpeg())
    copy = without_location(original, "JPEG")
    assert copy is not None and b"Paris" not in copy and b"France" not in copy
    assert b"Sunset" in copy and np.array_equal(_pixels(original), _pixels(copy))


def test_png_hex_iptc_profile() -> None:
    resources = samples.iptc_resources()
    hexed = resources.hex()
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type 8bim", f"\n8bim\n{len(resources):8d}\n{hexed}\n", zip=True)
    original = samples.encode(samples.noisy_image(6), "PNG", pnginfo=info)
    copy = without_location(original, "PNG")
    assert copy is not None
    with Image.open(io.BytesIO(copy)) as img:
        img.load()
        payload = bytes.fromhex("".join(img.info["Raw profile type 8bim"].split("\n")[3:]))
    assert b"Paris" not in payload and b"Sunset" in payload


def test_every_image_of_a_multi_picture_file_is_stripped() -> None:
    first, second = samples.located("JPEG"), samples.located("JPEG", image=samples.noisy_image(9))
    copy = without_location(first + second, "JPEG")
    assert copy is not None
    assert _exif(copy[len(first):]).get_ifd(GPS) == {}
    assert _exif(copy[:len(first)]).get_ifd(GPS) == {}


def test_files_without_location_need_no_copy() -> None:
    assert without_location(samples.jpeg(), "JPEG") is None
    assert without_location(samples.png(), "PNG") is None
    camera_only = Image.Exif()
    camera_only[0x010F] = "Nikon"
    no_gps = samples.encode(samples.noisy_image(1), "JPEG", exif=camera_only)
    assert without_location(no_gps, "JPEG") is None
    assert without_location(samples.encode(samples.noisy_image(1), "WEBP"), "WEBP") is None
    assert without_location(samples.encode(samples.noisy_image(1), "GIF"), "GIF") is None
    assert classify(samples.jpeg(), "JPEG").state == NONE


def test_classify_gives_the_copy_or_withholds() -> None:
    found = classify(samples.located("JPEG"), "JPEG")
    assert found.state == REMOVED and found.data is not None
    utf16 = samples.LOCATED_XMP.decode().encode("utf-16-le")
    withheld = samples.encode(samples.noisy_image(2), "JPEG", xmp=utf16)
    assert classify(withheld, "JPEG").state == WITHHELD
    assert classify(samples.motion_photo(), "JPEG").state == WITHHELD
    with pytest.raises(LocationNotRemovable):
        without_location(samples.jpeg(), "TIFF")


def test_the_copy_has_a_key_of_its_own_deleted_with_the_image() -> None:
    key = location_free_key("65a000000000000000000001")
    assert image_id_of_key(key) == "65a000000000000000000001"
    assert key in image_prefixes("65a0000000000000000000ff", "65a000000000000000000001")


def test_heic_exif_item_edited_in_place() -> None:
    register_openers()
    original = samples.heic(exif=samples.located_exif())
    copy = without_location(original, "HEIF")
    assert copy is not None and len(copy) == len(original)
    exif = _exif(copy)
    assert exif.get_ifd(GPS) == {} and exif[0x0110] == "Canon EOS 5D Mark IV"
    assert np.array_equal(_pixels(original), _pixels(copy))


def test_gif_xmp_extension_blanked_and_still_readable() -> None:
    original = samples.gif_with_xmp()
    copy = without_location(original, "GIF")
    assert copy is not None and len(copy) == len(original)
    assert not any(place in copy for place in samples.XMP_PLACES) and b'xmp:Rating="4"' in copy
    # Pillow walks the extension as sub-blocks: the blanked text still lands on the trailer.
    assert np.array_equal(_pixels(original), _pixels(copy))


def test_a_broken_link_after_ifd0_costs_nothing_a_broken_ifd0_withholds() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Nikon"
    tiff = bytearray(exif.tobytes()[6:])  # without "Exif\0\0"
    count = int.from_bytes(tiff[8:10], "little")
    tiff[10 + 12 * count:14 + 12 * count] = (10_000).to_bytes(4, "little")  # next IFD: nowhere
    plain = samples.encode(samples.noisy_image(1), "JPEG", exif=b"Exif\x00\x00" + bytes(tiff))
    assert classify(plain, "JPEG").state == NONE
    tiff[4:8] = (10_000).to_bytes(4, "little")  # IFD0: nowhere
    broken = samples.encode(samples.noisy_image(1), "JPEG", exif=b"Exif\x00\x00" + bytes(tiff))
    assert classify(broken, "JPEG").state == WITHHELD


def test_older_documents_without_a_format_are_sniffed() -> None:
    found = {fmt: sniff_format(samples.located(fmt)) for fmt in ("JPEG", "PNG", "WEBP", "AVIF")}
    assert found == {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "AVIF": "AVIF"}
    assert (sniff_format(samples.heic()), sniff_format(samples.gif_with_xmp())) == ("HEIF", "GIF")
    assert sniff_format(samples.TEXT_AS_JPG) == ""
