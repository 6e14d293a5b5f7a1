"""EXIF written by Pillow is read back as the fields the gallery shows."""

from __future__ import annotations

from datetime import datetime

from PIL import Image

from picsource_worker.pipeline.decode import decode
from picsource_worker.pipeline.exif import ExifInfo, read_exif
from tests.support.images import exif_jpeg, photo_jpeg


def test_camera_exposure_date_and_gps_are_read_back() -> None:
    info = read_exif(decode(exif_jpeg()).exif)
    assert info.camera_make == "Canon"
    assert info.camera_model == "Canon EOS 5D Mark IV"
    assert info.lens == "EF50mm f/1.8 STM"
    assert info.taken_at == datetime(2023, 7, 14, 18, 30, 5)
    assert info.exposure_time is not None and abs(info.exposure_time - 0.004) < 1e-6
    assert info.exposure_text == "1/250 s"
    assert info.f_number == 2.8 and info.iso == 400 and info.focal_length == 50.0
    assert info.latitude is not None and abs(info.latitude - (48 + 51 / 60 + 29.88 / 3600)) < 1e-6
    assert info.longitude is not None and abs(info.longitude + (2 + 17 / 60 + 40.2 / 3600)) < 1e-6


def test_photo_without_exif_gives_empty_info() -> None:
    info = read_exif(decode(photo_jpeg("coffee")).exif)
    assert info == ExifInfo()
    assert info.as_document() == {}


def test_malformed_values_are_dropped_one_by_one() -> None:
    exif = Image.Exif()
    exif[0x010F] = b"Nikon\x00\x00"
    exif[0x0110] = 12345  # not text
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "not a date"
    sub[0x829D] = "f/2"  # not a number
    sub[0x8827] = (200, 400)  # some cameras write a list
    gps = exif.get_ifd(0x8825)
    gps[2] = (95.0, 0.0, 0.0)  # latitude out of range
    gps[4] = "garbage"
    info = read_exif(exif)
    assert info.camera_make == "Nikon" and info.camera_model is None
    assert info.taken_at is None and info.f_number is None and info.iso == 200
    assert info.latitude is None and info.longitude is None


def test_document_holds_only_known_fields() -> None:
    doc = read_exif(decode(exif_jpeg()).exif).as_document()
    assert set(doc) == {
        "camera_make", "camera_model", "lens", "taken_at", "exposure_time",
        "f_number", "iso", "focal_length", "latitude", "longitude",
    }  # fmt: skip
