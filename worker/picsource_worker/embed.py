"""The worker's side of semantic search: each image's text vector, kept in step with its text.

Why in the worker: embedding costs milliseconds of CPU a web request should not spend,
and the worker already has the analysis the text is made of. Three ways in, one routine:

* at analysis, ``text_fields`` of the document as it will be (the user's title,
  description and tags with the new labels, caption, OCR text and colours) join the
  analysis fields in the same write; ``refresh`` afterwards catches an edit that landed
  while the job ran (a no-op without a round trip when nothing changed);
* after an edit, the ``EMBED`` job that picsource_core.image_documents asked for runs
  ``refresh`` on the document as it is now (picsource_worker.job dispatches it);
* older images, analysed before this existed or with another model, get ``EMBED`` jobs
  from ``TextBackfill``, a bounded pass between jobs in slot 0, like the trash purge.

``refresh`` never writes a stale vector: the digest of the embedded text is stored with
it, and ImageDocuments.set_text_vector writes only if the document has not changed since
it was read (else it reads again). An empty text stores no vector but the digest, so the
backfill does not come back for it. The encoder (picsource_core.text_embedding) is loaded
once per process, single-threaded: each analysis process owns one core.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from picsource_core.image_documents import TEXT_DIGEST, TEXT_MODEL, ImageDocuments
from picsource_core.images import READY
from picsource_core.text_embedding import TEXT_MODEL_ID, TEXT_VECTOR, document_text, encoder, pack
from picsource_worker.backfill import Backfill, IdWindows
from picsource_worker.pipeline.analyse import describe_error

log = logging.getLogger(__name__)

Encode = Callable[[Sequence[str]], np.ndarray]
#: What ``refresh`` reads: the text's sources, the stored digest and model, the guard.
READ = {"embedding": 0, TEXT_VECTOR: 0, "search_tokens": 0}
#: Reads of a document that keeps changing under ``refresh`` before it gives up; the
#: change that keeps coming asked for its own EMBED job.
REFRESH_TRIES = 3
#: Seconds before a backfill pass that failed (a database outage) is tried again, and
#: images looked at per pass (passes follow each other between jobs until the present).
BACKFILL_INTERVAL_SECONDS = 60.0
BACKFILL_BATCH = 200


def encode(texts: Sequence[str]) -> np.ndarray:
    """This process's encoder on one thread (the process owns one core)."""
    return encoder(threads=1).embed(texts)


def text_digest(text: str) -> str:
    """Identifies the embedded text, so a stored vector shows whether it is stale."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def text_fields(doc: Mapping[str, Any], embed: Encode = encode) -> dict[str, Any]:
    """The text-vector fields of ``doc``: packed vector (None for an empty text), model, digest."""
    text = document_text(doc)
    vector = pack(embed([text])[0]) if text.strip() else None
    return {TEXT_VECTOR: vector, TEXT_MODEL: TEXT_MODEL_ID, TEXT_DIGEST: text_digest(text)}


def is_current(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc``'s stored vector was made by this model from its present text."""
    return doc.get(TEXT_MODEL) == TEXT_MODEL_ID and doc.get(TEXT_DIGEST) == text_digest(document_text(doc))


def refresh(images: ImageDocuments, doc: Mapping[str, Any] | None, embed: Encode = encode) -> str:
    """Bring ``doc``'s text vector up to date: "current", "embedded", "gone" or "busy"
    (it kept changing: the change asked for its own job). Only ready images have one."""
    image_id = doc["_id"] if doc is not None else None
    for _ in range(REFRESH_TRIES):
        if doc is None or doc.get("status") != READY:
            return "gone"
        if is_current(doc):
            return "current"
        if images.set_text_vector(doc, text_fields(doc, embed)):
            return "embedded"
        doc = images.find_one({"_id": image_id}, READ)
    return "busy"


def add_text_fields(seen: Mapping[str, Any], fields: dict[str, Any],
                    observe: Callable[[dict[str, float]], None] | None = None) -> bool:
    """At analysis: add the text vector of the document as it will be (``seen``, the
    document as the job read it, with the analysis ``fields``) to ``fields``. Like any model
    step, a failure is the step's error ("text") and the image is still ready; False then."""
    started = time.perf_counter()
    try:
        fields.update(text_fields({**seen, **fields}))
        return True
    except Exception as exc:  # noqa: BLE001 - one step must not take the others down
        log.warning("text embedding of image %s failed: %s", seen.get("_id"), exc, exc_info=True)
        fields["analysis"]["step_errors"]["text"] = describe_error(exc)
        return False
    finally:
        if observe is not None:
            observe({"text": time.perf_counter() - started})


def catch_up(images: ImageDocuments, written: Mapping[str, Any]) -> None:
    """After the analysis write: if an edit landed while the job ran (the write then read
    the document back), embed its text as it is now. Best effort: the analysis is stored
    whatever happens here, and the next edit of the text asks for an EMBED job anyway."""
    try:
        refresh(images, written)
    except Exception:  # noqa: BLE001
        log.warning("could not catch up the text vector of image %s", written.get("_id"), exc_info=True)


class TextBackfill(Backfill):
    """Asks for EMBED jobs for ready images whose vector is missing or from another model,
    walking the images once in ``_id`` (upload time) windows (backfill.IdWindows), so each
    is asked for once; done for good at the present (new images get their vector at
    analysis; a new model comes with a new process, which walks again). A pass reads
    windows until it has seen about ``batch`` images.
    """

    handled_message = "asked for the text of %d older image(s) to be embedded"
    name = "text backfill"

    def __init__(self, images: ImageDocuments, *, interval: float = BACKFILL_INTERVAL_SECONDS,
                 batch: int = BACKFILL_BATCH, clock: Callable[[], float] = time.time) -> None:
        super().__init__(interval=interval, batch=batch, clock=clock)
        self.images = images
        self._walk = IdWindows()

    def _pass(self, now: float) -> int:
        seen, wanted = 0, []
        while seen < self.batch and not self.done:
            ids, end, last = self._walk.query()
            docs = list(self.images.find({"_id": ids}, {"status": 1, TEXT_MODEL: 1}))
            wanted += [d["_id"] for d in docs if d.get("status") == READY and d.get(TEXT_MODEL) != TEXT_MODEL_ID]
            seen += len(docs)
            self._walk.advance(end, last, len(docs), self.batch)
            self.done = last
        if wanted:
            self.images.request_embeds(wanted)
        return len(wanted)

    def checkpoint(self) -> tuple[float, float]:
        due, _ = super().checkpoint()
        return due, self._walk.start.timestamp()

    def resume(self, due: float, position: float) -> None:
        """A recycled predecessor's walk goes on where it was (picsource_worker.recycle)."""
        super().resume(due, position)
        if position:
            self._walk.start = datetime.fromtimestamp(position, UTC)


def warm_up() -> None:
    """Load the encoder before the first lease starts ticking."""
    encode(["warm up"])
