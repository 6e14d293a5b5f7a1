"""spec.version: the PicSource release a Gallery runs, and the images it implies (pure).

Why a release and not only image tags: the database schema belongs to a release
(picsource_operator.migrations.RELEASE_SCHEMA), so the operator must know which release the
pods will run to migrate before them, or to refuse a downgrade. An image reference may be a
digest, a private build or a mirror, none of which says its release; ``spec.version`` does.
Unset, a Gallery runs the operator's own release (constants.APP_VERSION). Set, the operator's
default images are re-tagged with it; images named in the spec are used as written.
"""

from __future__ import annotations

import re

from picsource_operator import constants
from picsource_operator.errors import SpecError

#: A release number, MAJOR.MINOR.PATCH (the CRD's pattern is the same).
VERSION_PATTERN = r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$"


def parse_version(raw: object) -> str | None:
    """spec.version as given (None when unset); SpecError naming the field otherwise."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not re.fullmatch(VERSION_PATTERN, raw):
        raise SpecError(f"spec.version must be a release number such as {constants.APP_VERSION}, not {raw!r}")
    return raw


def release_of(version: str | None) -> str:
    """The release a Gallery runs: spec.version, else the operator's own."""
    return version or constants.APP_VERSION


def with_tag(image: str, version: str) -> str:
    """``image`` (a reference by tag and/or digest) re-tagged ``version``, digest dropped:
    ``ghcr.io/picsource/web:0.1.0`` -> ``ghcr.io/picsource/web:0.2.0``."""
    repository = image.split("@", 1)[0]
    slash, colon = repository.rfind("/"), repository.rfind(":")
    if colon > slash:  # a tag (a colon before the last slash is a registry port)
        repository = repository[:colon]
    return f"{repository}:{version}"


def sort_key(version: str) -> tuple[int, ...]:
    """Orders release numbers (0.10.0 after 0.9.0)."""
    return tuple(int(part) for part in version.split("."))
