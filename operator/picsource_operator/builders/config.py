"""The gallery's ConfigMap (plain settings) and app Secret (generated secret key).

Web and worker read configuration only from their environment, so the operator
turns the spec into environment variables here. The generated Flask secret key
must survive reconciles (rotating it would log every user out), so the caller
passes the existing key and `generate_secret_key` is used only when there is none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping

from picsource_operator import constants
from picsource_operator.builders.common import WEB, Obj, app_secret_name, config_name, metadata
from picsource_operator.spec import Gallery


def generate_secret_key() -> str:
    """A fresh 64-character URL-safe key (the web tier wants at least 32)."""
    return secrets.token_urlsafe(48)


def config_data(g: Gallery) -> dict[str, str]:
    """Environment shared by web and worker pods; everything non-secret.

    Image delivery: with `storage.publicEndpoint` pages link presigned URLs for that
    address (and the web tier's CSP allows its origin); without it the web tier streams
    the bytes (PROXY_IMAGES), because the in-cluster endpoint is unreachable for browsers.
    """
    tls = bool(g.web.ingress and g.web.ingress.tls_secret_name)
    delivery = ({"PROXY_IMAGES": "false", "S3_PUBLIC_ENDPOINT": g.storage.public_endpoint}
                if g.storage.public_endpoint else {"PROXY_IMAGES": "true"})
    return {
        "PICSOURCE_GALLERY": g.name,
        "MONGODB_DATABASE": g.database.name,
        "S3_ENDPOINT": g.storage.endpoint,
        "S3_BUCKET": g.storage.bucket,
        "S3_REGION": g.storage.region,
        "MAX_UPLOAD_BYTES": str(g.limits.max_upload_bytes),
        "MAX_IMAGE_PIXELS": str(g.limits.max_pixels),
        "QUOTA_IMAGES": str(g.limits.quota_images),
        "QUOTA_BYTES": str(g.limits.quota_bytes),
        "GALLERY_QUOTA_BYTES": str(g.limits.gallery_bytes),
        "TRASH_DAYS": str(g.limits.trash_days),
        "SIGNUP": g.auth.signup,
        "SIGNUP_RATE_LIMIT": g.auth.signup_rate_limit,
        "SIGNUP_GLOBAL_RATE_LIMIT": g.auth.signup_global_rate_limit,
        "SESSION_COOKIE_SECURE": "true" if tls else "false",
        "TRUSTED_PROXY_HOPS": str(g.web.proxy_hops),
        **delivery,
        "WORKER_OCR": "true" if g.worker.analysis.ocr else "false",
        "WORKER_FACES": "true" if g.worker.analysis.faces else "false",
        "WORKER_SAFETY": "true",
        "WORKER_SAFETY_THRESHOLD": repr(float(g.worker.analysis.safety_threshold)),
    }


def build_configmap(g: Gallery) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(g, config_name(g), WEB),
        "data": config_data(g),
    }


def build_app_secret(g: Gallery, secret_key: str) -> Obj:
    """The app Secret; `secret_key` is the existing key, or a fresh one on first apply."""
    if len(secret_key) < 32:
        raise ValueError("the app secret key must be at least 32 characters")
    encoded = base64.b64encode(secret_key.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(g, app_secret_name(g), WEB),
        "data": {constants.SECRET_KEY_KEY: encoded},
    }


def secrets_digest(values: Mapping[tuple[str, str], str | None]) -> str:
    """Hash of what each (Secret, key) reference resolves to (None: absent).

    It goes on the pod templates, so pods roll when a credential changes; the values
    themselves never leave the operator (only a truncated SHA-256 of all of them does).
    """
    material = sorted([name, key, value] for (name, key), value in values.items())
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()[:16]


def config_hash(g: Gallery) -> str:
    """Hash of everything that reaches a pod's environment: a change rolls the pods.

    Secret *references* are included (pointing at another Secret must restart the
    pods); secret values are not, so the hash can be computed without reading them.
    """
    material = {
        "config": config_data(g),
        "refs": [
            g.storage.credentials_secret, g.storage.access_key_key, g.storage.secret_key_key,
            g.database.uri_secret, g.database.uri_key, g.auth.admin_secret,
        ],
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:16]
