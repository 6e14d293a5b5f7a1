"""Sample files for the API tests: good images and every kind of bad upload.

Each sample is built in memory with Pillow or by hand, so the tests need no fixture
files and each byte string is exactly what its name says (a genuine decompression
bomb, a genuinely truncated JPEG...).
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from picsource_web.context import EXTENSION


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


# --- API clients ----------------------------------------------------------------------
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


class ApiClient:
    """A script's view of the API: a bearer token on every request."""

    def __init__(self, app: Flask, token: str | None) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, headers=self.headers, **kw)

    def delete(self, url: str) -> TestResponse:
        return self.client.delete(url, headers=self.headers)

    def patch(self, url: str, body: Any) -> TestResponse:
        return self.client.patch(url, json=body, headers=self.headers)

    def upload(self, *files: tuple[bytes, str], **fields: str) -> TestResponse:
        form: dict[str, Any] = {"file": [(io.BytesIO(data), name) for data, name in files], **fields}
        return self.client.post("/api/v1/images", data=form, headers=self.headers,
                                content_type="multipart/form-data")

    def upload_one(self, data: bytes, name: str = "a.jpg", **fields: str) -> dict[str, Any]:
        response = self.upload((data, name), **fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["images"][0]  # type: ignore[no-any-return]


def token_for(app: Flask, username: str) -> str:
    svc = app.extensions[EXTENSION]
    user = svc.users.users.find_one({"username": username})
    assert user is not None
    plain, _ = svc.tokens.create(user["_id"], "tests")
    return plain


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= body.keys()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"].endswith("/" + code) and body["detail"]
    return body  # type: ignore[no-any-return]
