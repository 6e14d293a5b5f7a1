"""The image formats PicSource reads, and the one place their decoders are registered.

Why in core: the web tier decides by content which uploads it accepts and the worker
decodes them, so both must see the same Pillow with the same plugins. JPEG, PNG, WebP and
GIF are Pillow's own; AVIF is too (Pillow >= 11.2 wheels bundle libavif); HEIC/HEIF
(iPhone photos) needs pi-heif, the decode-only build of pillow-heif, whose plugin must be
in place before anything is opened: both call ``register_openers()`` first.

Why pi-heif rather than pillow-heif: pillow-heif's wheels bundle the x265 encoder and are
GPL-2.0 as a whole; pi-heif's bundle only libheif and libde265 (LGPL-3.0, shared objects)
and still decode everything. We never encode HEIC (thumbnails are WebP).

The brand table and ``content_type`` are plain Python (no Pillow), so the importer, which
runs with the standard library only, can share them.
"""

from __future__ import annotations

#: Pillow format name -> MIME type of an original in that format. HEIF is refined by
#: ``content_type``: HEVC-coded files (every iPhone photo) are image/heic.
CONTENT_TYPES = {
    "JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
    "AVIF": "image/avif", "HEIF": "image/heif",
}
#: The MIME type of HEVC-coded HEIF, a refinement of CONTENT_TYPES["HEIF"].
HEIC_TYPE = "image/heic"
#: Pillow format name -> the file extensions it goes by (the importer's walk, the upload
#: form's ``accept=``).
EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "PNG": (".png",), "WEBP": (".webp",),
    "GIF": (".gif",), "AVIF": (".avif",), "HEIF": (".heic", ".heif", ".hif"),
}
#: How people call a format where it differs from Pillow's name (messages, the upload page).
LABELS = {"HEIF": "HEIC/HEIF"}
#: ISO-BMFF brands (the ``ftyp`` box) that say "HEVC-coded HEIF", i.e. HEIC.
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
#: Brands of HEIF files whose codec the brand does not name (HEVC, AV1, JPEG...).
HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
#: Brands of AVIF stills and sequences.
AVIF_BRANDS = frozenset({b"avif", b"avis"})
#: Decoder threads libheif may start per image. One: the worker already runs one process
#: per core and the web tier decodes one upload at a time per process, so more threads
#: would only compete with the other processes for the same cores.
HEIF_DECODE_THREADS = 1


def brands(head: bytes) -> tuple[bytes, frozenset[bytes]]:
    """The major brand and the compatible brands of an ISO-BMFF file's first bytes
    (b"" and nothing when ``head`` does not start with an ``ftyp`` box)."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return b"", frozenset()
    size = min(int.from_bytes(head[:4], "big"), len(head))
    compatible = frozenset(head[i:i + 4] for i in range(16, size - 3, 4))
    return head[8:12], compatible


def sniff_bmff(head: bytes) -> str | None:
    """"HEIF" or "AVIF" from an ISO-BMFF file's major brand, else None."""
    major, _ = brands(head)
    if major in AVIF_BRANDS:
        return "AVIF"
    if major in HEIC_BRANDS or major in HEIF_BRANDS:
        return "HEIF"
    return None


def content_type(fmt: str, head: bytes = b"") -> str:
    """The MIME type to serve an original of Pillow format ``fmt`` with. ``head``: the
    file's first bytes (64 are plenty), which tell HEIC (HEVC inside) from other HEIF."""
    if fmt == "HEIF":
        major, compatible = brands(head)
        if major in HEIC_BRANDS or (major in HEIF_BRANDS and compatible & HEIC_BRANDS):
            return HEIC_TYPE
    return CONTENT_TYPES.get(fmt, "application/octet-stream")


def register_openers() -> None:
    """Make sure this process's Pillow opens HEIC/HEIF with pi-heif (cheap when it does).

    Checked on every call rather than done once: another library in the process may put
    its own HEIF plugin in the same slot (imageio registers pillow-heif's whenever it reads
    an image, and scikit-image reads through imageio), and what we decode must not depend
    on what was imported last.

    Only the primary image is decoded: the embedded thumbnails, depth maps and auxiliary
    images an iPhone writes are not loaded. Pillow's bomb check and our pixel limit still
    see the header's size before any pixel is decoded (pi-heif decodes on ``load()``).
    pi-heif applies the file's rotation and mirroring while decoding and resets the EXIF
    orientation to 1, so callers rotating by EXIF never turn a HEIC twice. (Pillow's AVIF
    plugin does the opposite: raw pixels, the rotation reported as EXIF orientation.)
    """
    # Imported here, not at the top: the importer uses this module without Pillow.
    import pi_heif
    from PIL import Image

    # Pillow's own plugins first: its AVIF plugin then sees an AV1-coded "mif1" file
    # before pi-heif (which has no AV1 decoder) when a caller opens without `formats`.
    Image.init()
    if Image.OPEN.get("HEIF", (None,))[0] is not pi_heif.HeifImageFile:
        pi_heif.register_heif_opener(
            thumbnails=False, depth_images=False, aux_images=False,
            decode_threads=HEIF_DECODE_THREADS,
        )
    _heif_after_avif(Image.ID)


def _heif_after_avif(ids: list[str]) -> None:
    """Move HEIF behind AVIF in Pillow's try order: a HEIF plugin registered before Pillow
    loaded its own (another library's, at import) keeps its early place when ours takes
    its slot."""
    if "AVIF" in ids and "HEIF" in ids and ids.index("HEIF") < ids.index("AVIF"):
        ids.remove("HEIF")
        ids.insert(ids.index("AVIF") + 1, "HEIF")
