"""The shared text encoder: pinned files, what is embedded, meaning-based ranking, packing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from picsource_core import text_embedding as te
from picsource_core.text_embedding import (
    DIMENSIONS,
    MAX_DOCUMENT_CHARS,
    ModelFileError,
    document_text,
    encoder,
    pack,
    unpack,
    verified_bytes,
)


@pytest.fixture(scope="module")
def enc() -> te.TextEncoder:
    return encoder(threads=1)


def test_the_pinned_files_are_the_installed_ones() -> None:
    assert len(verified_bytes(te.package_file(*te.MODEL_FILE), te.MODEL_SHA256)) > 20_000_000
    assert b'"vocab"' in verified_bytes(te.package_file(*te.TOKENIZER_FILE), te.TOKENIZER_SHA256)


def test_a_changed_file_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not the model")
    with pytest.raises(ModelFileError, match=r"model\.onnx: sha256 .* is not the pinned"):
        verified_bytes(bad, te.MODEL_SHA256)
    with pytest.raises(ModelFileError, match=r"missing\.json: cannot read"):
        verified_bytes(tmp_path / "missing.json", te.TOKENIZER_SHA256)
    with pytest.raises(ModelFileError, match="no_such_package is not installed"):
        te.package_file("no_such_package", "model.onnx")


def test_document_text_holds_what_describes_the_image_bounded() -> None:
    doc = {
        "title": "Summer", "description": "We drove  to the coast.", "tags": ["holiday", "family"],
        "colour_families": ["blue", "yellow"],
        "analysis": {"caption": "a dog on a beach", "ocr_text": "NO SWIMMING",
                     "labels": [{"label": "golden retriever", "score": 0.9}, {"label": "seashore"}]},
    }
    text = document_text(doc)
    for part in ("Summer", "a dog on a beach", "golden retriever, seashore", "holiday, family",
                 "We drove to the coast", "blue, yellow", "NO SWIMMING"):
        assert part in text
    assert text.index("Summer") < text.index("a dog on a beach") < text.index("NO SWIMMING")
    assert document_text({"analysis": {"caption": "A photo of a tripod with one person."}}) == "a tripod with one person"
    assert document_text({"analysis": {"caption": "A photo, mostly grey."}, "title": "Tripod."}) == "Tripod. mostly grey"
    assert document_text({}) == ""
    assert document_text({"title": None, "tags": None, "analysis": None}) == ""
    long = document_text({"title": "x" * 5000, "description": "y" * 5000, "analysis": {"ocr_text": "z" * 5000}})
    assert len(long) <= MAX_DOCUMENT_CHARS


def test_vectors_are_unit_length_384_floats(enc: te.TextEncoder) -> None:
    vectors = enc.embed(["a cat", "a cat", "the stock market fell"])
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)
    assert enc.embed([]).shape == (0, DIMENSIONS)


def test_batching_does_not_change_a_vector(enc: te.TextEncoder) -> None:
    texts = [f"photo number {i} of a red car" for i in range(te.BATCH_SIZE + 3)] + ["a short one"]
    together = enc.embed(texts)
    alone = enc.embed(["a short one"])
    assert np.allclose(together[-1], alone[0], atol=1e-4)


def test_document_text_carries_each_labels_synonyms() -> None:
    doc = {"analysis": {"labels": [{"label": "seashore", "synonyms": ["coast", "seacoast"]},
                                   {"label": "golden retriever"}, {"label": "crane", "synonyms": "not a list"}]}}
    assert document_text(doc) == "seashore (coast, seacoast), golden retriever, crane"


def test_meaning_ranks_above_words(enc: te.TextEncoder) -> None:
    documents = ["golden retriever on a seashore", "a bowl of soup on a kitchen table",
                 "quarterly tax report spreadsheet", "city skyline at night with skyscrapers"]
    query = enc.embed(["dog at the beach"])[0]
    scores = enc.embed(documents) @ query
    assert int(np.argmax(scores)) == 0
    assert scores[0] > max(scores[1:]) + 0.15


def test_odd_input_does_not_crash(enc: te.TextEncoder) -> None:
    texts = ["", "   ", "🐶🏖️", "犬 ビーチ", "собака на пляже", "كلب على الشاطئ", "a" * 300,
             " ".join(["word"] * 2000), "\x00\u200b"]
    vectors = enc.embed(texts)
    assert vectors.shape == (len(texts), DIMENSIONS)
    assert np.all(np.isfinite(vectors))


def test_pack_is_384_int8_bytes_and_keeps_the_direction(enc: te.TextEncoder) -> None:
    vectors = enc.embed(["golden retriever on a seashore", "tax report"])
    blobs = [pack(v) for v in vectors]
    assert [len(b) for b in blobs] == [DIMENSIONS, DIMENSIONS]
    restored = unpack(blobs)
    assert restored.shape == (2, DIMENSIONS) and restored.dtype == np.float32
    assert np.all(np.sum(restored * vectors, axis=1) > 0.999)
    raw = unpack(blobs, normalise=False)
    assert raw.dtype == np.int8 and int(np.max(np.abs(raw))) == 127
    assert unpack([]).shape == (0, DIMENSIONS)


def test_pack_and_unpack_refuse_other_shapes() -> None:
    with pytest.raises(ValueError, match="384 components, not 3"):
        pack(np.ones(3))
    with pytest.raises(ValueError, match="384 bytes, not 2"):
        unpack([b"\x01\x02"])
    assert pack(np.zeros(DIMENSIONS)) == bytes(DIMENSIONS)
    assert np.all(unpack([bytes(DIMENSIONS)]) == 0)
    assert pack(np.full(DIMENSIONS, np.nan)) == bytes(DIMENSIONS)


def test_one_encoder_per_process_shared_by_threads() -> None:
    found: list[te.TextEncoder] = []
    threads = [threading.Thread(target=lambda: found.append(encoder(threads=1))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in found}) == 1
    assert (0, 1) in te._encoders  # single-threaded: not tied to this process


def test_a_forked_child_uses_the_single_threaded_encoder_it_inherited() -> None:
    parent = encoder(threads=1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no reload, and the inherited session still runs
        ok = encoder(threads=1) is parent and parent.embed(["a sign"]).shape == (1, DIMENSIONS)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
