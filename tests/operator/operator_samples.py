"""Sample Gallery bodies for the operator unit tests (no conftest: module names must stay unique)."""

from __future__ import annotations

import copy
from typing import Any

BASE_GALLERY: dict[str, Any] = {
    "apiVersion": "picsource.io/v1alpha1",
    "kind": "Gallery",
    "metadata": {"name": "photos", "namespace": "team-a", "uid": "1234-uid", "generation": 3},
    "spec": {
        "storage": {
            "endpoint": "http://minio.storage.svc:9000",
            "credentialsSecretRef": {"name": "photos-s3"},
            "bucket": "photos-bucket",
        },
        "database": {"uriSecretRef": {"name": "photos-mongo"}, "name": "photos"},
    },
}


def gallery_body(**spec: Any) -> dict[str, Any]:
    """A deep copy of the base Gallery with top-level spec keys replaced."""
    body = copy.deepcopy(BASE_GALLERY)
    body["spec"].update(spec)
    return body
