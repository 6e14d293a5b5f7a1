"""Names and numbers every layer of the operator agrees on, kept in one place.

The default images follow the operator's own version so that an operator release
always deploys the web and worker code it was tested with.
"""

from __future__ import annotations

from typing import Final

APP_VERSION: Final = "0.1.0"
IMAGE_REGISTRY: Final = "ghcr.io/picsource"
DEFAULT_WEB_IMAGE: Final = f"{IMAGE_REGISTRY}/web:{APP_VERSION}"
DEFAULT_WORKER_IMAGE: Final = f"{IMAGE_REGISTRY}/worker:{APP_VERSION}"

GROUP: Final = "picsource.io"
VERSION: Final = "v1alpha1"
PLURAL: Final = "galleries"
KIND: Final = "Gallery"
API_VERSION: Final = f"{GROUP}/{VERSION}"
BACKUP_KIND: Final = "GalleryBackup"
BACKUP_PLURAL: Final = "gallerybackups"

FIELD_MANAGER: Final = "picsource-operator"
MANAGED_BY: Final = "picsource-operator"
PART_OF: Final = "picsource"

# Annotation on pod templates: a change of configuration rolls the pods.
CONFIG_HASH_ANNOTATION: Final = f"{GROUP}/config-hash"
# Annotation on pod templates: a change of a referenced Secret's data rolls the pods
# (their secretKeyRef variables are resolved only when a container starts).
SECRETS_HASH_ANNOTATION: Final = f"{GROUP}/secrets-hash"

# Container ports (named `http` and `metrics` in the pod specs). The web pods' gunicorn
# listens on both (two binds), so scrapes have a port of their own to be allowed on.
WEB_HTTP_PORT: Final = 5000
WEB_METRICS_PORT: Final = 9101
WORKER_METRICS_PORT: Final = 9101
SERVICE_HTTP_PORT: Final = 80
OPERATOR_METRICS_PORT: Final = 9102

# Key of the generated Flask secret key in the app Secret.
SECRET_KEY_KEY: Final = "secret-key"

# Non-root user the images run as.
RUN_AS_USER: Final = 10001

# Seconds between the periodic per-gallery timer runs (backlog, autoscaling, status).
TIMER_INTERVAL_SECONDS: Final = 5.0
