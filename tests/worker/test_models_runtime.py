"""How the worker's onnxruntime sessions get memory (picsource_worker.models.runtime)."""

from __future__ import annotations

import onnxruntime as ort
from PIL import Image

from picsource_core.text_embedding import encoder
from picsource_worker.models import classifier, faces, ocr, safety


def _config(options: ort.SessionOptions, key: str) -> str | None:
    try:
        return str(options.get_session_config_entry(key))
    except RuntimeError:  # "does not have configuration with key"
        return None


def test_ocr_and_faces_share_one_arena_and_no_session_plans_memory() -> None:
    # Each session's arena or planner keeps its own peak for good: a process would hold the
    # sum of every model's peak. OCR and MTCNN, whose activations come in many sizes and
    # would be faulted in afresh on every image, use the process's one arena (without the
    # planner), registered with onnxruntime's environment; the fixed-size models use malloc.
    picture = Image.new("RGB", (64, 48), (120, 80, 40))
    classifier.classify(picture), faces.count_faces(picture), safety.safety_score(picture)
    plain = [classifier._session(), safety._session(), encoder(threads=1)._session]
    reader = ocr._reader()
    with_arena = [reader.detector.infer.session, reader.recogniser.session.session, *faces._nets()]
    for session in plain + with_arena:
        options = session.get_session_options()
        assert not options.enable_mem_pattern
        assert options.enable_cpu_mem_arena == (session in with_arena)
        assert (_config(options, "session.use_env_allocators") == "1") == (session in with_arena)
