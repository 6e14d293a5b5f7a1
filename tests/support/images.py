"""Images for tests, built in memory so no fixture files are needed and each byte string
is exactly what its name says (a real photo, a genuine decompression bomb, a genuinely
truncated JPEG...).

- ``photo(name)``: one of scikit-image's bundled sample photos as a PIL image;
  ``photo_jpeg``/``large_jpeg``/``exif_jpeg`` encode it the way cameras do.
- ``heic`` (a real HEVC-coded HEIF) and ``camera_file(fmt)`` (JPEG, AVIF or HEIC with
  ``camera_exif``: date, GPS, orientation), for iPhone-style uploads.
- ``jpeg``/``png``/``noisy_jpeg``: small generated files for upload tests;
  ``noisy_jpeg(seed)`` differs per seed, so uploads are never duplicates.
- Bad uploads: ``truncated_jpeg``, ``png_bomb``, ``png_header_only``, ``oversize``,
  ``heic_claiming``, ``TEXT_AS_JPG``, ``SVG``.
- Location in metadata: ``located(fmt)`` (GPS in EXIF, the place in XMP), ``located_exif``,
  ``LOCATED_XMP``/``XMP_PLACES``, ``iptc_jpeg``/``iptc_resources``, ``gif_with_xmp``, ``motion_photo``.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


# --- sample photos ----------------------------------------------------------------------
def photo(name: str) -> Image.Image:
    """One of scikit-image's sample photos in its own mode: RGB for coffee, chelsea,
    astronaut and rocket; greyscale ("L") for camera."""
    from skimage import data  # imported here: only the tests that want photos pay for it

    return Image.fromarray(getattr(data, name)())


def photo_jpeg(name: str, quality: int = 90, **params: Any) -> bytes:
    return encode(photo(name), "JPEG", quality=quality, **params)


def large_jpeg(name: str, size: tuple[int, int] = (4000, 3000), seed: int = 0,
               quality: int = 88) -> bytes:  # fmt: skip
    """A camera-sized JPEG: an upscaled sample photo plus sensor-like noise."""
    base = photo(name).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).integers(-6, 7, (size[1], size[0], 3), dtype=np.int16)
    pixels = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=quality)


def camera_exif(orientation: int = 1, huge_comment: str | None = None) -> Image.Exif:
    """EXIF as a camera writes it: make, model, orientation, DateTimeOriginal 2023-07-14
    18:30:05, exposure, lens and GPS (48.858300 N, 2.294500 W)."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:07:14 18:30:05"
    sub[0x829A] = 1 / 250
    sub[0x829D] = 2.8
    sub[0x8827] = 400
    sub[0x920A] = 50.0
    sub[0xA434] = "EF50mm f/1.8 STM"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.88)
    gps[3] = "W"
    gps[4] = (2.0, 17.0, 40.2)
    if huge_comment is not None:
        exif[0x010E] = huge_comment  # ImageDescription
    return exif


def exif_jpeg(image: Image.Image | None = None, **tags: Any) -> bytes:
    """A JPEG whose EXIF carries camera, exposure, date and GPS tags written by Pillow."""
    exif = camera_exif(tags.get("orientation", 1), tags.get("huge_comment"))
    return encode(image or photo("chelsea"), "JPEG", quality=90, exif=exif)


def heic(image: Image.Image | None = None, *, exif: Image.Exif | None = None,
         quality: int = 80) -> bytes:  # fmt: skip
    """A real HEIC as iPhones write it: HEVC in HEIF, major brand "heic". Encoded with
    pillow-heif's x265, a test-only dependency (the product only decodes, with pi-heif).
    An EXIF orientation is written as the file's rotation (``irot``) with the pixels stored
    as given, the way a phone stores its sensor's pixels."""
    import pillow_heif  # here: only the tests that make HEIC files pay for it

    buf = io.BytesIO()
    heif = pillow_heif.from_pillow(image if image is not None else noisy_image(5))
    heif.save(buf, quality=quality, exif=exif.tobytes() if exif is not None else None)
    return buf.getvalue()


def heic_deep(level: int = 40000, size: tuple[int, int] = (64, 48)) -> bytes:
    """A 10-bit HEIC (brand "heix", as iPhones write HDR photos): an even grey whose
    16-bit ``level`` (0..65535) must come out as ``level * 255 / 65535`` in 8 bits."""
    import pillow_heif

    pixels = np.full((size[1], size[0], 3), level, dtype=np.uint16)
    buf = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB;16", size=size, data=pixels.tobytes()).save(buf)
    return buf.getvalue()


def camera_file(fmt: str, image: Image.Image | None = None, orientation: int = 1) -> bytes:
    """``image`` (default: chelsea, 451x300) as a camera or phone writes ``fmt`` (JPEG,
    AVIF, or HEIF for a HEIC), with ``camera_exif`` in it."""
    image = image if image is not None else photo("chelsea")
    exif = camera_exif(orientation)
    if fmt == "HEIF":
        return heic(image, exif=exif, quality=85)
    return encode(image, fmt, quality=90, exif=exif)


# --- generated scenes ---------------------------------------------------------------------
def mostly_red(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """85% red with a grey-blue stripe, mildly noisy like a photo of a red wall."""
    w, h = size
    pixels = np.zeros((h, w, 3), dtype=np.int16)
    pixels[:] = (200, 24, 30)
    pixels[int(h * 0.85) :] = (90, 100, 120)
    pixels += np.random.default_rng(1).integers(-10, 11, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def text_page(lines: int = 42, size: tuple[int, int] = (6000, 6000)) -> Image.Image:
    """A page densely covered in long printed lines: OCR reads every one, which takes
    seconds (2 s for 42 lines on the 2-core development machine), so a job on it reliably
    outlives a 1-second job timeout. The letters are large enough (1.5% of the page's
    side) for the detector, which looks at a 512-pixel copy (picsource_worker.models.ocr)."""
    page = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=90)
    for i in range(lines):
        draw.text((80, 60 + i * 140), f"Line {i:02d}: the quick brown fox jumps over the lazy dog, who sleeps on {i * 7}",
                  font=font, fill=(20, 20, 20))
    return page


def sign(text: str = "GRAND OPENING", size: tuple[int, int] = (900, 300)) -> Image.Image:
    """A shop sign: dark bold letters on a pale yellow board (Pillow's bundled font)."""
    board = Image.new("RGB", size, (250, 240, 170))
    draw = ImageDraw.Draw(board)
    draw.text((50, 100), text, font=ImageFont.load_default(size=80), fill=(25, 25, 35))
    return board


# --- small upload files -------------------------------------------------------------------
def jpeg(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 48),
         quality: int = 90) -> bytes:
    """A JPEG of one colour."""
    return encode(Image.new("RGB", size, colour), "JPEG", quality=quality)


def png(colour: tuple[int, int, int] = (40, 40, 200), size: tuple[int, int] = (32, 32)) -> bytes:
    """A PNG of one colour."""
    return encode(Image.new("RGB", size, colour), "PNG")


def noisy_jpeg(seed: int, size: tuple[int, int] = (120, 90)) -> bytes:
    """A JPEG whose bytes differ per seed (distinct SHA-256), with real structure."""
    img = Image.new("RGB", size)
    img.putdata([((x * seed) % 256, (y * 7 + seed) % 256, (x + y + seed * 13) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    return encode(img, "JPEG", quality=85)


# --- bad uploads --------------------------------------------------------------------------
def truncated_jpeg() -> bytes:
    data = noisy_jpeg(7, (256, 256))
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(ihdr: bytes, idat: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels: ~50 KB on disk, 400 MP decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return _png(struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0), idat)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but carries almost no data (a decompression bomb)."""
    return _png(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), zlib.compress(b"\0" * 64))


def oversize(limit: int) -> bytes:
    """A real JPEG header followed by padding, one byte over ``limit``."""
    head = jpeg()
    return head + b"\x00" * (limit + 1 - len(head))


def heic_claiming(width: int, height: int) -> bytes:
    """A real small HEIC whose ``ispe`` box (the size libheif reports before decoding)
    claims ``width`` x ``height``: a decompression bomb by its header. Decoding it would
    fail on the size mismatch, so a "too large" refusal proves the size was checked first."""
    data = heic()
    at = data.index(b"ispe") + 8  # after the type and the full-box version and flags
    return data[:at] + struct.pack(">II", width, height) + data[at + 8:]


TEXT_AS_JPG = b"Hello, I am a plain text file pretending to be a JPEG.\n" * 20

SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script><rect width="10" height="10" fill="red"/></svg>\n')


# --- location in metadata (picsource_core.location) --------------------------------------
#: An XMP packet naming a place the way phones and Lightroom write it: GPS as attributes,
#: city and country as elements, IPTC's LocationCreated as a nested structure; plus a
#: rating and a creator, which must survive.
LOCATED_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    b' <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    b' xmp:Rating="4" exif:GPSLatitude="48,51.498N" exif:GPSLongitude="2,17.67W">\n'
    b'  <photoshop:City>Paris</photoshop:City>\n'
    b'  <photoshop:Country>France</photoshop:Country>\n'
    b'  <dc:creator><rdf:Seq><rdf:li>Ann Example</rdf:li></rdf:Seq></dc:creator>\n'
    b'  <Iptc4xmpExt:LocationCreated><rdf:Bag><rdf:li rdf:parseType="Resource">\n'
    b'   <Iptc4xmpExt:City>Paris</Iptc4xmpExt:City><Iptc4xmpExt:Sublocation>Montmartre'
    b'</Iptc4xmpExt:Sublocation></rdf:li></rdf:Bag></Iptc4xmpExt:LocationCreated>\n'
    b' </rdf:Description>\n</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
)
#: Words of LOCATED_XMP that say where; none may be left in a location-free copy.
XMP_PLACES = (b"48,51.498N", b"2,17.67W", b"Paris", b"France", b"Montmartre", b"GPSLatitude")


def located_exif() -> Image.Exif:
    """EXIF with camera, date and exposure tags and a GPS IFD (Paris, 35 m up)."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0131] = "PicSource tests"  # Software: an IFD0 tag after the GPS pointer's place
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:07:14 18:30:05"
    sub[0x829A] = 1 / 250
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.88)
    gps[3] = "W"
    gps[4] = (2.0, 17.0, 40.2)
    gps[6] = 35.0
    gps[0x1B] = b"ASCII\x00\x00\x00GPS fix by phone"  # GPSProcessingMethod: out-of-line bytes
    return exif


def located(fmt: str = "JPEG", *, xmp: bool = True, image: Image.Image | None = None) -> bytes:
    """A file of ``fmt`` (JPEG, PNG, WEBP, AVIF) whose EXIF carries GPS and whose XMP
    names the place, written by Pillow the way cameras and editors do."""
    image = image or noisy_image(3)
    params: dict[str, Any] = {"exif": located_exif()}
    if xmp and fmt == "PNG":  # Pillow writes no XMP into PNGs: an iTXt chunk, as editors do
        params["pnginfo"] = PngImagePlugin.PngInfo()
        params["pnginfo"].add_itxt("XML:com.adobe.xmp", LOCATED_XMP.decode())
    elif xmp:
        params["xmp"] = LOCATED_XMP
    if fmt in ("JPEG", "WEBP", "AVIF"):
        params["quality"] = 90
    return encode(image, fmt, **params)


def noisy_image(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """An RGB image whose pixels differ per seed (the pixels behind ``noisy_jpeg``)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def iptc_resources(city: bytes = b"Paris", caption: bytes = b"Sunset") -> bytes:
    """Photoshop image resources ("8BIM") whose IPTC-IIM names a city, a country and a caption."""
    def dataset(number: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value

    iptc = dataset(120, caption) + dataset(90, city) + dataset(101, b"France")
    return b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) % 2)


def iptc_jpeg(base: bytes, city: bytes = b"Paris", caption: bytes = b"Sunset") -> bytes:
    """``base`` with an APP13 Photoshop block holding ``iptc_resources``."""
    body = b"Photoshop 3.0\x00" + iptc_resources(city, caption)
    return base[:2] + b"\xff\xed" + struct.pack(">H", len(body) + 2) + body + base[2:]


def gif_with_xmp(xmp: bytes = LOCATED_XMP) -> bytes:
    """A GIF carrying ``xmp`` as Adobe's "XMP DataXMP" application extension, with the
    258-byte "magic trailer" that keeps readers that parse it as sub-blocks on track
    (Pillow writes no XMP into GIFs)."""
    gif = encode(noisy_image(4).convert("P"), "GIF")
    packed = gif[10]
    table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
    at = 13 + table  # header, logical screen descriptor, global colour table
    extension = b"\x21\xff\x0bXMP DataXMP" + xmp + bytes([1, *range(255, -1, -1)]) + b"\x00"
    return gif[:at] + extension + gif[at:]


def motion_photo(base: bytes | None = None) -> bytes:
    """A JPEG followed by a (token) video whose QuickTime ``©xyz`` atom says where it was
    shot, as phones' motion photos append one: location a lossless edit cannot remove."""
    video = b"\x00\x00\x00\x14ftypmp42\x00\x00\x00\x00mp42" + b"\x00\x00\x00\x1c\xa9xyz\x00\x12\x15\xc7+48.8583+002.2945/"
    return (base if base is not None else noisy_jpeg(11)) + video
