"""Sample files for the API tests: good images and every kind of bad upload.

Each sample is built in memory with Pillow or by hand, so the tests need no fixture
files and each byte string is exactly what its name says (a genuine decompression
bomb, a genuinely truncated JPEG...).
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 48),
         quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(colour: tuple[int, int, int] = (40, 40, 200), size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def noisy_jpeg(seed: int, size: tuple[int, int] = (120, 90)) -> bytes:
    """A JPEG whose bytes differ per seed (distinct SHA-256), with real structure."""
    img = Image.new("RGB", size)
    img.putdata([((x * seed) % 256, (y * 7 + seed) % 256, (x + y + seed * 13) % 256)
                 for y in range(size[1]) for x in range(size[0])])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    data = noisy_jpeg(7, (256, 256))
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels: ~50 KB on disk, 400 MP decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


TEXT_AS_JPG = b"Hello, I am a plain text file pretending to be a JPEG.\n" * 20

SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script><rect width="10" height="10" fill="red"/></svg>\n')


def oversize(limit: int) -> bytes:
    """A real JPEG header followed by padding, one byte over ``limit``."""
    head = jpeg()
    return head + b"\x00" * (limit + 1 - len(head))
