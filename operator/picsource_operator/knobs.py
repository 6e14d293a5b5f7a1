"""The cluster admin's knobs: where the pods run, what they carry, what the Ingress is told.

`spec.pods` applies to web and worker pods alike; `spec.web.pods` and `spec.worker.pods`
refine it per component. Maps (nodeSelector, labels, annotations) merge key by key with
the component's value winning; any other field set on the component replaces the
gallery's. Parsing lives here so spec.py stays one screen of dataclasses; every refusal
is a SpecError naming the field as the admin wrote it. The builders apply the result.

The operator's own labels select its pods (Deployments, Services, NetworkPolicies,
PodDisruptionBudget, the drift watch): a knob that could overwrite one would orphan
pods or widen a policy, so such keys, and the operator's ``picsource.io/`` prefix, are
refused rather than silently dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from picsource_core.uploads import single_upload_bytes, upload_request_limit
from picsource_operator import constants
from picsource_operator.errors import SpecError

#: Labels the operator sets on every child and its pods (builders.common.labels).
OPERATOR_LABELS = frozenset({
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/version",
})
#: Labels and annotations under this prefix are the operator's (config-hash, secrets-hash...).
OPERATOR_PREFIX = f"{constants.GROUP}/"

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
QUALIFIED_NAME = re.compile(rf"^({_DNS_SUBDOMAIN}/)?{_NAME}$")
LABEL_VALUE = re.compile(rf"^({_NAME})?$")


@dataclass(frozen=True)
class PodOptions:
    """Scheduling and metadata of one component's pods. None: not set at this level."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] | None = None
    affinity: Mapping[str, Any] | None = None
    #: A constraint without labelSelector gets the component's own pods (builders.pods).
    topology_spread: tuple[Mapping[str, Any], ...] | None = None
    priority_class: str | None = None
    image_pull_secrets: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def refined_by(self, component: PodOptions) -> PodOptions:
        """These (gallery-wide) options refined by a component's."""
        return replace(
            self,
            node_selector={**self.node_selector, **component.node_selector},
            labels={**self.labels, **component.labels},
            annotations={**self.annotations, **component.annotations},
            **{name: getattr(component, name) for name in
               ("tolerations", "affinity", "topology_spread", "priority_class", "image_pull_secrets")
               if getattr(component, name) is not None},
        )


def string_map(raw: Any, path: str, *, label_values: bool,
               reserved: frozenset[str] | None = None) -> dict[str, str]:
    """A map of qualified-name keys to strings. `reserved`: keys refused, besides every key
    under the operator's prefix (None: any key is fine)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"spec.{path} must be a map of names to strings")
    out: dict[str, str] = {}
    for key, value in raw.items():
        where = f"spec.{path}[{key}]"
        if not isinstance(key, str) or len(key) > 316 or not QUALIFIED_NAME.match(key):
            raise SpecError(f"{where}: {key!r} is not a valid key (an optional DNS prefix and /, "
                            "then at most 63 letters, digits, '-', '_' or '.')")
        if reserved is not None and (key in reserved or key.startswith(OPERATOR_PREFIX)):
            raise SpecError(f"{where} is the operator's own (it selects or rolls the gallery's pods); "
                            "choose another key")
        if not isinstance(value, str):
            raise SpecError(f"{where} must be a string, not {value!r}")
        if label_values and not LABEL_VALUE.match(value):
            raise SpecError(f"{where}: {value!r} is not a valid label value (at most 63 letters, "
                            "digits, '-', '_' or '.', beginning and ending alphanumeric)")
        out[key] = value
    return out


def _objects(raw: Any, path: str) -> tuple[Mapping[str, Any], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise SpecError(f"spec.{path} must be a list of objects")
    return tuple(dict(item) for item in raw)


def _pull_secrets(raw: Any, path: str) -> tuple[str, ...] | None:
    items = _objects(raw, path)
    if items is None:
        return None
    names = []
    for i, item in enumerate(items):
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(_DNS_SUBDOMAIN, name):
            raise SpecError(f"spec.{path}[{i}].name must name a Secret, not {name!r}")
        names.append(name)
    return tuple(names)


def parse_pod_options(raw: Any, path: str) -> PodOptions:
    """`spec.<path>` (for example ``web.pods``) as PodOptions."""
    if raw is None:
        return PodOptions()
    if not isinstance(raw, Mapping):
        raise SpecError(f"spec.{path} must be an object")
    affinity = raw.get("affinity")
    if affinity is not None and not isinstance(affinity, Mapping):
        raise SpecError(f"spec.{path}.affinity must be an object, as in a pod's spec.affinity")
    priority = raw.get("priorityClassName")
    if priority is not None and (not isinstance(priority, str) or not re.fullmatch(_DNS_SUBDOMAIN, priority)):
        raise SpecError(f"spec.{path}.priorityClassName must name a PriorityClass, not {priority!r}")
    spread = _objects(raw.get("topologySpreadConstraints"), f"{path}.topologySpreadConstraints")
    for i, constraint in enumerate(spread or ()):
        for key in ("maxSkew", "topologyKey", "whenUnsatisfiable"):
            if key not in constraint:
                raise SpecError(f"spec.{path}.topologySpreadConstraints[{i}].{key} is required")
    return PodOptions(
        node_selector=string_map(raw.get("nodeSelector"), f"{path}.nodeSelector", label_values=True),
        tolerations=_objects(raw.get("tolerations"), f"{path}.tolerations"),
        affinity=dict(affinity) if affinity is not None else None,
        topology_spread=spread,
        priority_class=priority,
        image_pull_secrets=_pull_secrets(raw.get("imagePullSecrets"), f"{path}.imagePullSecrets"),
        labels=string_map(raw.get("labels"), f"{path}.labels", label_values=True,
                          reserved=OPERATOR_LABELS),
        annotations=string_map(raw.get("annotations"), f"{path}.annotations", label_values=False,
                               reserved=frozenset()),
    )


# --- images -----------------------------------------------------------------------------
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?"
IMAGE_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@(?P<digest>[^@]+))?$")
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def check_image(reference: str, path: str) -> str:
    """An image reference by tag (``repo:1.2``), digest (``repo@sha256:<64 hex>``) or both."""
    match = IMAGE_REFERENCE.match(reference) if isinstance(reference, str) else None
    if match is None:
        raise SpecError(f"spec.{path} {reference!r} is not an image reference such as "
                        "ghcr.io/picsource/web:0.1.0 or ghcr.io/picsource/web@sha256:<64 hex digits>")
    digest = match.group("digest")
    if digest is not None and not DIGEST.match(digest):
        raise SpecError(f"spec.{path} has a malformed digest {digest!r}: expected sha256: and "
                        "64 lowercase hex digits (or sha384/sha512)")
    return reference


# --- memory -----------------------------------------------------------------------------
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")
_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
            "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
MI = 2**20
#: What one analysis process needs, with OCR (490 MB max RSS in bench/bench_pipeline.py on
#: 12 MP JPEGs, plus decoding room for a 50 MP image) and without (283 MB measured).
PROCESS_MEMORY_OCR = 640 * MI
PROCESS_MEMORY = 384 * MI
#: The worker's supervisor process (queue statistics, /metrics, /healthz).
SUPERVISOR_MEMORY = 128 * MI


def quantity_bytes(quantity: str | None) -> float | None:
    """A memory quantity ("768Mi", "1Gi", "1e9", "500M") in bytes; None when absent or unreadable."""
    match = _QUANTITY.match(str(quantity).strip()) if quantity is not None else None
    if not match:
        return None
    number, suffix = float(match.group(1)), match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * 10 ** int(suffix[1:])
    return number * _FACTORS.get(suffix, 1)


def processes_that_fit(memory_limit: str | None, ocr: bool) -> int | None:
    """Analysis processes a worker pod's memory limit holds beside its supervisor (None: no limit)."""
    limit = quantity_bytes(memory_limit)
    if limit is None:
        return None
    per_process = PROCESS_MEMORY_OCR if ocr else PROCESS_MEMORY
    return math.floor((limit - SUPERVISOR_MEMORY) / per_process)


def check_worker_memory(memory_limit: str | None, ocr: bool) -> None:
    """Refuse a worker memory limit that cannot hold one analysis process: it would be OOM-killed."""
    fit = processes_that_fit(memory_limit, ocr)
    if fit is not None and fit < 1:
        per_process = (PROCESS_MEMORY_OCR if ocr else PROCESS_MEMORY) // MI
        need = per_process + SUPERVISOR_MEMORY // MI
        hint = "" if not ocr else ", or set spec.worker.analysis.ocr to false"
        raise SpecError(
            f"spec.worker.resources.limits.memory {memory_limit} cannot hold one analysis process "
            f"({per_process}Mi{' with OCR' if ocr else ''}) plus the worker's supervisor "
            f"({SUPERVISOR_MEMORY // MI}Mi): set at least {need}Mi{hint}")


# --- Ingress body size -------------------------------------------------------------------
#: Body-size annotations of the controllers that limit request bodies by default (both
#: nginx-based controllers stop at 1 MiB): kubernetes/ingress-nginx and NGINX Inc.'s.
BODY_SIZE_ANNOTATIONS = ("nginx.ingress.kubernetes.io/proxy-body-size", "nginx.org/client-max-body-size")
_NGINX_SIZE = re.compile(r"^([0-9]+)([kKmMgG]?)$")
_NGINX_FACTORS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def nginx_size(value: str) -> int | None:
    """An nginx size ("64m", "1g", "1048576") in bytes (0 = unlimited); None when unreadable."""
    match = _NGINX_SIZE.match(value.strip())
    return int(match.group(1)) * _NGINX_FACTORS[match.group(2).lower()] if match else None


def body_size_annotations(max_upload_bytes: int) -> dict[str, str]:
    """The annotations that let the web tier's largest upload request through, in MiB rounded up."""
    size = f"{math.ceil(upload_request_limit(max_upload_bytes) / MI)}m"
    return {name: size for name in BODY_SIZE_ANNOTATIONS}


def check_body_size(annotations: Mapping[str, str], max_upload_bytes: int) -> None:
    """An admin's own body size must let at least one image of the largest size through."""
    need = single_upload_bytes(max_upload_bytes)
    for name in BODY_SIZE_ANNOTATIONS:
        if name not in annotations:
            continue
        size = nginx_size(annotations[name])
        where = f"spec.web.ingress.annotations[{name}]"
        if size is None:
            raise SpecError(f"{where} {annotations[name]!r} is not a size such as 64m, 1g or 0 (unlimited)")
        if 0 < size < need:
            raise SpecError(
                f"{where} {annotations[name]} is smaller than one upload of spec.limits.maxUploadBytes "
                f"({max_upload_bytes} bytes plus multipart overhead, {math.ceil(need / MI)}m): raise it, "
                "lower maxUploadBytes, or leave the annotation out and the operator sets it")
