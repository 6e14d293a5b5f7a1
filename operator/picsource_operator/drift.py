"""Recognising a hand-edited owned object, purely from its managedFields.

The operator applies every child with server-side apply as field manager
picsource-operator. When someone else (kubectl edit/patch/scale) changes the
spec or data of a child, the API server records that manager as owning those
fields; seeing such an entry is the drift signal. Re-applying with force takes
the fields back, which removes the entry, so correction is one apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from picsource_operator import constants

_CONTENT_FIELDS = ("f:spec", "f:data", "f:stringData", "f:binaryData")


def foreign_managers(obj: Mapping[str, Any]) -> list[str]:
    """Managers other than the operator that own spec/data fields of `obj`."""
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        manager = entry.get("manager", "")
        if manager == constants.FIELD_MANAGER or entry.get("subresource") == "status":
            continue
        fields = entry.get("fieldsV1") or {}
        if any(key in fields for key in _CONTENT_FIELDS):
            found.append(manager)
    return found


def owning_gallery(obj: Mapping[str, Any]) -> str | None:
    """Name of the Gallery that controls `obj`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == constants.KIND and ref.get("apiVersion", "").startswith(constants.GROUP + "/"):
            return str(ref.get("name"))
    return None
