"""A typed, frozen view of a Gallery resource.

The API server already validates and defaults the spec (schema + CEL), but the
builders must not depend on that: a spec read from an older CRD, or a dict in a
unit test, gets the same defaults here. `tests/operator/test_operator_crd.py`
checks that these defaults equal the CRD's, so the two cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from picsource_core.images import DEFAULT_SAFETY_THRESHOLD
from picsource_core.trash import DEFAULT_TRASH_DAYS, MAX_TRASH_DAYS
from picsource_operator import constants, knobs, release
from picsource_operator.backup_spec import (
    BackupPolicy,
    Credentials,
    RestoreSource,
    parse_policy,
    parse_restore,
)

# SpecError and Autoscaling are re-exported: callers import them from here.
from picsource_operator.errors import SpecError as SpecError
from picsource_operator.scaling_spec import Autoscaling as Autoscaling
from picsource_operator.scaling_spec import WebAutoscaling, parse_web_autoscaling


@dataclass(frozen=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


# Each gunicorn worker (2 per requested CPU) holds the app (~65 MB), the text encoder of
# semantic search once it served a search (+~110 MB) and the vectors of the scopes it
# searched (~43 MB per 100k images): 1Gi holds the default two with room for large galleries.
WEB_RESOURCES = Resources({"cpu": "100m", "memory": "384Mi"}, {"memory": "1Gi"})
# One analysis process with OCR plus the supervisor (knobs.PROCESS_MEMORY_OCR and
# SUPERVISOR_MEMORY: 768Mi); the limit leaves room for the largest images.
WORKER_RESOURCES = Resources({"cpu": "250m", "memory": "768Mi"}, {"memory": "1Gi"})


@dataclass(frozen=True)
class Ingress:
    host: str
    class_name: str | None = None
    tls_secret_name: str | None = None
    #: spec.web.ingress.annotations, as given (the body-size defaults are added by the builder).
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebSpec:
    replicas: int = 2
    image: str = constants.DEFAULT_WEB_IMAGE
    resources: Resources = WEB_RESOURCES
    ingress: Ingress | None = None
    # Reverse proxies in front of the pods whose X-Forwarded-* headers are trusted;
    # None = decided from the Ingress (see `proxy_hops`).
    trusted_proxy_hops: int | None = None
    #: spec.pods refined by spec.web.pods (see knobs).
    pods: knobs.PodOptions = knobs.PodOptions()
    #: spec.web.autoscaling: replicas follow the requests in flight (`replicas` is then ignored).
    autoscaling: WebAutoscaling | None = None

    @property
    def proxy_hops(self) -> int:
        """Explicit trustedProxyHops, else 1 behind our Ingress (its controller) and 0 without."""
        if self.trusted_proxy_hops is not None:
            return self.trusted_proxy_hops
        return 1 if self.ingress is not None else 0


@dataclass(frozen=True)
class Analysis:
    ocr: bool = True
    faces: bool = True
    safety_threshold: float = DEFAULT_SAFETY_THRESHOLD


@dataclass(frozen=True)
class WorkerSpec:
    replicas: int = 1
    image: str = constants.DEFAULT_WORKER_IMAGE
    autoscaling: Autoscaling | None = None
    resources: Resources = WORKER_RESOURCES
    analysis: Analysis = Analysis()
    #: spec.pods refined by spec.worker.pods (see knobs).
    pods: knobs.PodOptions = knobs.PodOptions()


@dataclass(frozen=True)
class StorageSpec:
    endpoint: str
    bucket: str
    credentials_secret: str
    access_key_key: str = "accessKey"
    secret_key_key: str = "secretKey"
    region: str = "us-east-1"
    create_bucket: bool = True
    encryption: bool = True
    # The S3 URL browsers reach. Set: pages carry presigned URLs for it. None: the web
    # tier streams image bytes itself (proxy mode), since an in-cluster endpoint such as
    # http://minio.storage.svc:9000 means nothing to a browser.
    public_endpoint: str | None = None

    @property
    def secure(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"

    @property
    def port(self) -> int:
        parts = urlsplit(self.endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class DatabaseSpec:
    name: str
    uri_secret: str
    uri_key: str = "uri"


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    quota_images: int = 1000
    quota_bytes: int = 1024**3
    #: spec.limits.quota.galleryBytes: all users' originals together (0 = unlimited).
    gallery_bytes: int = 0
    #: spec.limits.trashDays: days a trashed image waits before the worker purges it
    #: (the pods' TRASH_DAYS; same range as core's parser).
    trash_days: int = DEFAULT_TRASH_DAYS


#: spec.auth.signup values; the web tier's SIGNUP accepts the same.
SIGNUP_MODES = ("open", "closed", "invite", "approval")
#: A rate limit such as ``5/1h`` (the CRD's pattern; the web tier parses the same form).
RATE_LIMIT_PATTERN = r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}[smh]?$"


@dataclass(frozen=True)
class AuthSpec:
    signup: str = "open"
    admin_secret: str | None = None
    #: spec.auth.signupRateLimit / signupGlobalRateLimit: sign-up attempts per client
    #: address and from everyone, per window (the web tier's SIGNUP_RATE_LIMIT and
    #: SIGNUP_GLOBAL_RATE_LIMIT, in the same ``count/window[smh]`` form).
    signup_rate_limit: str = "5/1h"
    signup_global_rate_limit: str = "100/1h"


@dataclass(frozen=True)
class NetworkSpec:
    # Where endpoints the operator cannot pin itself (external DNS names, ExternalName or
    # selector-less Services) may be reached; canonical CIDRs (see picsource_operator.egress).
    egress_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gallery:
    """Identity of the Gallery object plus its parsed spec."""

    name: str
    namespace: str
    uid: str
    generation: int
    web: WebSpec
    worker: WorkerSpec
    storage: StorageSpec
    database: DatabaseSpec
    limits: Limits = Limits()
    auth: AuthSpec = AuthSpec()
    network: NetworkSpec = NetworkSpec()
    reclaim_policy: str = "Retain"
    paused: bool = False
    #: spec.backup: scheduled backups and their retention (backup_spec).
    backup: BackupPolicy | None = None
    #: spec.restoreFrom: fill the new gallery from a backup before its pods start.
    restore_from: RestoreSource | None = None
    #: spec.version: the PicSource release the pods run (None: the operator's own; see release.py).
    version: str | None = None

    @property
    def storage_credentials(self) -> Credentials:
        return Credentials(self.storage.credentials_secret, self.storage.access_key_key,
                           self.storage.secret_key_key)


def _resources(raw: Mapping[str, Any] | None, default: Resources) -> Resources:
    if raw is None:
        return default
    return Resources(
        {k: str(v) for k, v in (raw.get("requests") or {}).items()},
        {k: str(v) for k, v in (raw.get("limits") or {}).items()},
    )


def _web(raw: Mapping[str, Any], default_image: str, pods: knobs.PodOptions) -> WebSpec:
    ingress = raw.get("ingress") or {}
    if ingress.get("tlsSecretName") and not ingress.get("host"):
        raise SpecError("web.ingress.tlsSecretName requires web.ingress.host")
    hops = raw.get("trustedProxyHops")
    if hops is not None and not 0 <= int(hops) <= 5:
        raise SpecError(f"web.trustedProxyHops must be between 0 and 5, not {hops!r}")
    annotations = knobs.string_map(ingress.get("annotations"), "web.ingress.annotations",
                                   label_values=False)
    return WebSpec(
        trusted_proxy_hops=None if hops is None else int(hops),
        replicas=int(raw.get("replicas", 2)),
        autoscaling=parse_web_autoscaling(raw.get("autoscaling")),
        image=knobs.check_image(raw.get("image") or default_image, "web.image"),
        resources=_resources(raw.get("resources"), WEB_RESOURCES),
        ingress=Ingress(ingress["host"], ingress.get("className"), ingress.get("tlsSecretName"),
                        annotations)
        if ingress.get("host")
        else None,
        pods=pods.refined_by(knobs.parse_pod_options(raw.get("pods"), "web.pods")),
    )


def _worker(raw: Mapping[str, Any], default_image: str, pods: knobs.PodOptions) -> WorkerSpec:
    auto_raw = raw.get("autoscaling")
    if auto_raw is not None and raw.get("replicas") is not None:
        raise SpecError("worker.replicas and worker.autoscaling are mutually exclusive")
    autoscaling = None
    if auto_raw is not None:
        if "maxReplicas" not in auto_raw:
            raise SpecError("worker.autoscaling.maxReplicas is required")
        autoscaling = Autoscaling(
            max_replicas=int(auto_raw["maxReplicas"]),
            min_replicas=int(auto_raw.get("minReplicas", 1)),
            target_backlog_per_worker=int(auto_raw.get("targetBacklogPerWorker", 10)),
            scale_down_stabilization_seconds=int(auto_raw.get("scaleDownStabilizationSeconds", 60)),
        )
        if autoscaling.min_replicas > autoscaling.max_replicas:
            raise SpecError("worker.autoscaling.minReplicas must be <= maxReplicas")
        if autoscaling.target_backlog_per_worker < 1:
            raise SpecError("worker.autoscaling.targetBacklogPerWorker must be >= 1")
    analysis = raw.get("analysis") or {}
    resources = _resources(raw.get("resources"), WORKER_RESOURCES)
    ocr = bool(analysis.get("ocr", True))
    knobs.check_worker_memory(resources.limits.get("memory"), ocr)
    return WorkerSpec(
        replicas=int(raw.get("replicas", 1)),
        image=knobs.check_image(raw.get("image") or default_image, "worker.image"),
        autoscaling=autoscaling,
        resources=resources,
        analysis=Analysis(
            ocr=ocr,
            faces=bool(analysis.get("faces", True)),
            safety_threshold=float(analysis.get("safetyThreshold", DEFAULT_SAFETY_THRESHOLD)),
        ),
        pods=pods.refined_by(knobs.parse_pod_options(raw.get("pods"), "worker.pods")),
    )


def _count(raw: Mapping[str, Any], key: str, path: str, default: int = 0) -> int:
    """A whole number >= 0 (0 meaning unlimited); SpecError naming ``spec.<path>`` otherwise."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"spec.{path} must be a whole number of bytes >= 0 (0 = unlimited), not {value!r}")
    return value


def _trash_days(limits: Mapping[str, Any]) -> int:
    """spec.limits.trashDays, in the range core's TRASH_DAYS parser accepts."""
    value = limits.get("trashDays", DEFAULT_TRASH_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRASH_DAYS:
        raise SpecError(f"spec.limits.trashDays must be a whole number of days from 1 to {MAX_TRASH_DAYS}, "
                        f"not {value!r}")
    return value


def _rate(auth: Mapping[str, Any], key: str, default: str) -> str:
    value = auth.get(key, default)
    if not isinstance(value, str) or not re.fullmatch(RATE_LIMIT_PATTERN, value):
        raise SpecError(f"spec.auth.{key} must look like 5/1h (attempts/window with s, m or h), not {value!r}")
    return value


def _required(raw: Mapping[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, Mapping) or not node.get(part):
            raise SpecError(f"spec.{path} is required")
        node = node[part]
    return node


def _check_url(path: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"spec.{path} must be an http(s) URL, not {url!r}")


def _network(raw: Mapping[str, Any]) -> NetworkSpec:
    cidrs = raw.get("egressCIDRs") or []
    if not isinstance(cidrs, list):
        raise SpecError("spec.network.egressCIDRs must be a list of CIDRs such as 203.0.113.0/24")
    parsed: list[str] = []
    for i, value in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(str(value), strict=True)
        except ValueError as err:
            raise SpecError(f"spec.network.egressCIDRs[{i}] is not a CIDR such as 203.0.113.0/24 "
                            f"or 2001:db8::/32: {value!r} ({err})") from None
        if str(network) not in parsed:
            parsed.append(str(network))
    return NetworkSpec(egress_cidrs=tuple(parsed))


def parse_gallery(body: Mapping[str, Any], *, web_image: str = constants.DEFAULT_WEB_IMAGE,
                  worker_image: str = constants.DEFAULT_WORKER_IMAGE) -> Gallery:
    """Parse a Gallery object (as returned by the API) into a `Gallery`; raise SpecError.

    `web_image`/`worker_image` are the operator's defaults for a spec that names none.
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    storage = spec.get("storage") or {}
    creds = storage.get("credentialsSecretRef") or {}
    database = spec.get("database") or {}
    uri_ref = database.get("uriSecretRef") or {}
    limits = spec.get("limits") or {}
    quota = limits.get("quota") or {}
    auth = spec.get("auth") or {}
    signup = auth.get("signup", "open")
    if signup not in SIGNUP_MODES:
        raise SpecError(f"spec.auth.signup must be one of {', '.join(SIGNUP_MODES)}, not {signup!r}")
    reclaim = spec.get("reclaimPolicy", "Retain")
    if reclaim not in ("Retain", "Delete"):
        raise SpecError(f"spec.reclaimPolicy must be Retain or Delete, not {reclaim!r}")
    endpoint = _required(spec, "storage.endpoint")
    _check_url("storage.endpoint", endpoint)
    public = storage.get("publicEndpoint") or None
    if public is not None:
        _check_url("storage.publicEndpoint", public)
    pods = knobs.parse_pod_options(spec.get("pods"), "pods")
    version = release.parse_version(spec.get("version"))
    if version is not None:  # the default images of that release (images in the spec win)
        web_image, worker_image = release.with_tag(web_image, version), release.with_tag(worker_image, version)
    web = _web(spec.get("web") or {}, web_image, pods)
    max_upload = int(limits.get("maxUploadBytes", 20 * 1024 * 1024))
    if web.ingress is not None:
        knobs.check_body_size(web.ingress.annotations, max_upload)
    own_credentials = Credentials(_required(spec, "storage.credentialsSecretRef.name"),
                                  creds.get("accessKeyKey", "accessKey"), creds.get("secretKeyKey", "secretKey"))
    return Gallery(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation", 0)),
        web=web,
        worker=_worker(spec.get("worker") or {}, worker_image, pods),
        storage=StorageSpec(
            endpoint=endpoint,
            bucket=_required(spec, "storage.bucket"),
            credentials_secret=_required(spec, "storage.credentialsSecretRef.name"),
            access_key_key=creds.get("accessKeyKey", "accessKey"),
            secret_key_key=creds.get("secretKeyKey", "secretKey"),
            region=storage.get("region", "us-east-1"),
            create_bucket=bool(storage.get("createBucket", True)),
            encryption=bool(storage.get("encryption", True)),
            public_endpoint=public,
        ),
        database=DatabaseSpec(
            name=_required(spec, "database.name"),
            uri_secret=_required(spec, "database.uriSecretRef.name"),
            uri_key=uri_ref.get("key", "uri"),
        ),
        limits=Limits(
            max_upload_bytes=max_upload,
            max_pixels=int(limits.get("maxPixels", 50_000_000)),
            quota_images=int(quota.get("images", 1000)),
            quota_bytes=int(quota.get("bytes", 1024**3)),
            gallery_bytes=_count(quota, "galleryBytes", "limits.quota.galleryBytes"),
            trash_days=_trash_days(limits),
        ),
        auth=AuthSpec(signup=signup, admin_secret=(auth.get("adminSecretRef") or {}).get("name"),
                      signup_rate_limit=_rate(auth, "signupRateLimit", "5/1h"),
                      signup_global_rate_limit=_rate(auth, "signupGlobalRateLimit", "100/1h")),
        network=_network(spec.get("network") or {}),
        reclaim_policy=reclaim,
        paused=bool(spec.get("paused", False)),
        backup=parse_policy(spec.get("backup")),
        restore_from=parse_restore(spec.get("restoreFrom"), endpoint, own_credentials,
                                   storage.get("region", "us-east-1")),
        version=version,
    )
