"""The importer's pure parts, without a server: sniffing, exclude globs, sidecars (hostile
XMP included), tags, the multipart body, the progress line and the summary."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.formparser import parse_form_data

from picsource_web.importer.client import check_url, multipart
from picsource_web.importer.files import excluded, sniff, walk
from picsource_web.importer.progress import Progress, Tally, human_bytes, summary
from picsource_web.importer.sidecars import (
    MAX_SIDECAR_BYTES,
    SidecarError,
    clean_tags,
    parse_takeout,
    parse_xmp,
    read_sidecars,
)
from tests.support import images as samples
from tests.web.test_importer import HOSTILE_XMP, XMP


@pytest.mark.parametrize(("data", "fmt"), [
    (samples.jpeg(), "JPEG"), (samples.png(), "PNG"),
    (samples.encode(Image.new("RGB", (4, 4)), "GIF"), "GIF"),
    (samples.encode(Image.new("RGB", (4, 4)), "WEBP"), "WEBP"),
    (b"\0\0\0\x18ftypheic\0\0\0\0", "HEIF"), (b"\0\0\0\x1cftypavif\0\0\0\0", "AVIF"),
    (samples.TEXT_AS_JPG, None), (samples.SVG, None), (b"\0\0\0\x18ftypmp42", None), (b"", None),
])
def test_sniff_names_the_format_by_magic_bytes(data: bytes, fmt: str | None) -> None:
    assert sniff(data[:16]) == fmt


def test_exclude_matches_path_or_name_and_covers_folders(tmp_path: Path) -> None:
    assert excluded("a/b/c.tmp", ["*.tmp"]) and excluded("Trash", ["Trash"])
    assert excluded("2019/x.jpg", ["2019/*"]) and not excluded("2020/x.jpg", ["2019/*"])
    for rel in ("keep/a.jpg", "Trash/deep/b.jpg", "c.tmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = {c.rel: flag for c, flag in walk([tmp_path], ["Trash", "*.tmp"])}
    assert found == {"c.tmp": True, "keep/a.jpg": False, "Trash/deep/b.jpg": True}


def test_xmp_title_description_and_subjects() -> None:
    assert parse_xmp(XMP) == ("Harbour at dawn", "Boats leaving", ["Sea", "boats"])


@pytest.mark.parametrize("data", [
    HOSTILE_XMP,
    b'<!doctype x SYSTEM "file:///etc/passwd"><x/>',
    b'<x><!ENTITY a "b"></x>',
])
def test_xmp_with_a_dtd_or_entities_is_refused_before_parsing(data: bytes) -> None:
    with pytest.raises(SidecarError, match="DOCTYPE or ENTITY"):
        parse_xmp(data)


def test_broken_sidecars_are_warnings_and_sizes_are_bounded(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(samples.jpeg())
    (tmp_path / "p.jpg.json").write_bytes(b"{not json")
    (tmp_path / "p.xmp").write_bytes(b"<x>" + b"a" * MAX_SIDECAR_BYTES + b"</x>")
    found = read_sidecars(photo)
    assert (found.title, found.used) == ("", [])
    assert any("not valid JSON" in w for w in found.warnings)
    assert any("larger than" in w for w in found.warnings)
    with pytest.raises(SidecarError):
        parse_takeout(b"[1, 2]")
    assert parse_takeout(b'\xef\xbb\xbf{"title": "T", "description": 3}') == ("T", "")


def test_tags_are_cleaned_to_what_the_server_accepts() -> None:
    tags = clean_tags(["Sea", "sea", "a,b", "  ", "x" * 80, *[f"t{i}" for i in range(40)]])
    assert tags[:3] == ["Sea", "a b", "x" * 64] and len(tags) == 30


def test_multipart_body_is_read_back_by_werkzeug() -> None:
    body, content_type = multipart({"title": "Été", "tags": "a,b"}, 'we"ird\r\n.jpg', b"\xff\xd8data")
    environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": content_type, "REQUEST_METHOD": "POST"}
    _, form, files = parse_form_data(environ)
    assert form["title"] == "Été" and form["tags"] == "a,b"
    assert files["file"].read() == b"\xff\xd8data" and files["file"].filename == "we_ird__.jpg"


def test_url_check() -> None:
    assert check_url("https://photos.example.org") is None
    assert "http:// or https://" in str(check_url("photos.example.org"))


def test_progress_line_and_summary() -> None:
    out = io.StringIO()
    progress = Progress(out, interactive=False, log_every=0)
    progress.start("uploading", 4, 4000)
    progress.advance(1000)
    progress.finish()
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("uploading 1/4 files · 1.0 KB/4.0 KB ·") and "ETA" in line
    assert human_bytes(999) == "999 B" and human_bytes(1_500_000) == "1.5 MB"
    tally = Tally(uploaded=3, uploaded_bytes=3000, duplicates=2,
                  skipped=[("a.txt", "not an image file (extension)")] * 2,
                  failed=[("b.jpg", "422 corrupt_image: damaged")])
    lines = summary(tally, dry_run=False, waited=False)
    assert lines[:4] == ["uploaded: 3 (3.0 KB)", "duplicates: 2", "skipped (unsupported): 2",
                         "failed: 1"]
    assert "  skipped 2 × not an image file (extension)" in lines
    assert "  failed b.jpg: 422 corrupt_image: damaged" in lines
