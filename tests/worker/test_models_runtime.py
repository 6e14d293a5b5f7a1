"""How the worker's onnxruntime sessions get memory (picsource_worker.models.runtime)."""

from __future__ import annotations

from PIL import Image

from picsource_core.text_embedding import encoder
from picsource_worker.models import classifier, faces, ocr, safety


def test_only_ocr_keeps_an_arena_and_no_session_plans_memory() -> None:
    # Each session's arena or planner keeps its own peak for good: a process would hold the
    # sum of every model's peak. Only OCR, whose big activations would be faulted in afresh
    # on every image, keeps an arena (without the planner).
    picture = Image.new("RGB", (64, 48), (120, 80, 40))
    classifier.classify(picture), faces.count_faces(picture), safety.safety_score(picture)
    plain = [classifier._session(), safety._session(), *faces._nets(), encoder(threads=1)._session]
    reader = ocr._reader()
    with_arena = [reader.detector.infer.session, reader.recogniser.session.session]
    for session in plain + with_arena:
        options = session.get_session_options()
        assert not options.enable_mem_pattern
        assert options.enable_cpu_mem_arena == (session in with_arena)
