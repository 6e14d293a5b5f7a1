"""Load the analysis models once, before the analysis processes are forked.

Why: loading the ONNX sessions and the text encoder takes seconds (about 5 s on a busy
2-core machine), and every analysis process used to load its own copy, after every
restart too: under a crash every 5 s, throughput fell to 0.65 images/s. The supervisor
starts its analysis processes from a forkserver (multiprocessing's "forkserver" start
method) that first imports picsource_worker.forkserver, which calls ``preload`` here. Each
process forked from it, the first ones and every restart, starts with the models in
memory, their weights shared copy-on-write with its siblings, ready in milliseconds. The
forkserver is a clean process (no MongoDB client, no metrics thread), which is what makes
forking it safe.

Only single-threaded sessions are preloaded: onnxruntime's thread pools do not survive
a fork. When each process gets several threads (WORKER_CONCURRENCY below the CPU limit),
each loads its own models after the fork, as before.
"""

from __future__ import annotations

import io
import logging
import os

from PIL import Image

from picsource_core.config import ConfigurationError
from picsource_core.cpus import available_cpus
from picsource_worker import embed
from picsource_worker.allocator import restart_background_purging
from picsource_worker.memory import release_memory
from picsource_worker.models import runtime
from picsource_worker.pipeline.analyse import AnalysisOptions, analyse, describe_error
from picsource_worker.settings import Settings

log = logging.getLogger(__name__)


def configure(concurrency: int, cpus: int | None = None) -> None:
    """Give each of ``concurrency`` processes its share of this container's CPUs."""
    cpus = available_cpus() if cpus is None else cpus
    runtime.set_session_threads(runtime.threads_per_process(cpus, concurrency))


def load_models(options: AnalysisOptions) -> None:
    """Load every model ``options`` enable (each once per process; forks inherit them).
    A model that fails to load is logged; each image then records that step's error."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(buf, "JPEG")
    analysis = analyse(buf.getvalue(), options)
    for step, error in analysis.step_errors.items():
        log.error("warm-up: step %s failed: %s", step, error)
    if options.text_embedding:
        try:
            _text_encoder()
        except Exception as exc:  # noqa: BLE001 - each image will record the step's error
            log.error("warm-up: step text failed: %s", describe_error(exc))
    release_memory()  # what loading parsed and dropped, before anything forks


@runtime.loader("text")
def _text_encoder() -> bool:
    embed.warm_up()
    return True


def warm_up(options: AnalysisOptions, concurrency: int) -> tuple[list[str], list[str]]:
    """In an analysis process, before its first job: the models it inherited from the
    forkserver and those it had to load itself (none, when preloading worked)."""
    restart_background_purging()  # jemalloc's, stopped by the fork (picsource_worker.allocator)
    inherited = runtime.loaded()
    if not inherited:
        configure(concurrency)
    load_models(options)
    return inherited, runtime.loaded_by(os.getpid())


def preload() -> None:
    """In the forkserver: the models the settings enable, if the sessions are single-threaded."""
    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError:  # the supervisor reported it and exited already
        return
    configure(settings.concurrency)
    if runtime.session_threads() == 1:
        load_models(settings.analysis_options())
