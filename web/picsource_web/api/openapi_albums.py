"""The albums part of the OpenAPI document (paths and schemas), merged by api/openapi.py.

Why a module of its own: the document is one literal per area; this one takes the
document's shared pieces (problem and JSON response builders, the common statuses) as
arguments, so they stay written once in openapi.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ALBUM_ID = {"name": "album_id", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}
_VISIBILITY = {"type": "string", "enum": ["private", "unlisted", "public"]}
_EXPIRY = {"type": ["string", "null"], "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
           "description": "The last day (UTC) the share link works, today or later; null or "
                          "empty: never expires."}
_IDS = {"type": "object", "additionalProperties": False, "required": ["image_ids"], "properties": {
    "image_ids": {"type": "array", "minItems": 1, "maxItems": 500,
                  "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}}}
_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 5000},
    "visibility": _VISIBILITY,
    "allow_download": {"type": "boolean", "description": "Whether people who open a shared or "
                       "public album may download originals (default false)."},
    "share_expires_on": _EXPIRY,
}

SCHEMAS: dict[str, Any] = {
    "Album": {"type": "object", "required": ["id", "title", "visibility", "image_count"], "properties": {
        "id": {"type": "string"}, "is_owner": {"type": "boolean"},
        "title": {"type": "string"}, "description": {"type": "string"},
        "visibility": _VISIBILITY,
        "image_count": {"type": "integer", "description": "Images in it, not counting trashed ones."},
        "cover_image_id": {"type": ["string", "null"]},
        "cover_url": {"type": ["string", "null"], "description": "Only for the owner."},
        "allow_download": {"type": ["boolean", "null"], "description": "Only for the owner."},
        "share_url": {"type": ["string", "null"], "description": "Only for the owner, when "
                      "the album is unlisted or public."},
        "share_expires_on": {"type": ["string", "null"], "format": "date"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "urls": {"type": "object", "properties": {"page": {"type": "string"},
                                                  "self": {"type": "string"}}}}},
    "AlbumList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Album"}}}},
    "AlbumCreate": {"type": "object", "additionalProperties": False, "required": ["title"],
                    "properties": _FIELDS},
    "AlbumPatch": {"type": "object", "additionalProperties": False, "minProperties": 1,
                   "properties": {**_FIELDS, "cover_image_id": {
                       "type": ["string", "null"], "pattern": "^[0-9a-f]{24}$",
                       "description": "An image in the album (not trashed); null: the latest added."}}},
    "AlbumImageIds": _IDS,
    "AlbumImageResults": {"type": "object", "required": ["results"], "properties": {
        "results": {"type": "array", "items": {"type": "object", "required": ["id", "result"],
                    "properties": {"id": {"type": "string"}, "result": {"type": "string", "enum": [
                        "added", "already_in_album", "not_found", "removed", "not_in_album"]}}}},
        "added": {"type": "integer"}, "removed": {"type": "integer"}}},
}


def paths(prefix: str, problem: Callable[[str], dict[str, Any]], json: Callable[[str, str], dict[str, Any]],
          common: dict[str, Any], signed_in: list[dict[str, list[str]]], csrf: str,
          read_only: str) -> dict[str, Any]:
    """The /albums paths, built with the document's own helpers."""
    not_found = {"404": problem("No such album, or it is not visible to you.")}
    body_errors = {"400": problem(f"validation_error naming the field (errors); {csrf}."),
                   "403": problem(f"{read_only}."),
                   "415": problem("The body is not application/json.")}

    def body(ref: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{ref}"}}}}

    ids_op = {"security": signed_in, "requestBody": body("AlbumImageIds"),
              "description": "At most 500 ids. Every one of your images named is applied; each "
              "other id is answered not_found (someone else's or no such image) and changes "
              "nothing. Idempotent: a repeated call answers already_in_album / not_in_album.",
              "responses": {"200": json("One result per id, in the order sent.", "AlbumImageResults"),
                            **body_errors, **not_found, **common}}
    return {
        f"{prefix}/albums": {
            "get": {"operationId": "listAlbums", "security": signed_in,
                    "summary": "Your albums, newest first, with image counts and covers",
                    "responses": {"200": json("Your albums.", "AlbumList"), **common}},
            "post": {"operationId": "createAlbum", "security": signed_in, "summary": "Create an album",
                     "requestBody": body("AlbumCreate"),
                     "responses": {"201": json("The new album.", "Album"),
                                   **body_errors, **common,
                                   "403": problem(f"quota_exceeded (reason quota_albums): 1000 "
                                                  f"albums already; {read_only}.")}},
        },
        f"{prefix}/albums/{{album_id}}": {
            "parameters": [_ALBUM_ID],
            "get": {"operationId": "getAlbum", "summary": "One album (yours, or a public one)",
                    "responses": {"200": json("The album.", "Album"), **not_found, **common}},
            "patch": {"operationId": "updateAlbum", "security": signed_in,
                      "summary": "Rename, describe, share, set the cover or the download switch",
                      "description": "Making an album private retires its share link for good.",
                      "requestBody": body("AlbumPatch"),
                      "responses": {"200": json("The album.", "Album"), **body_errors,
                                    **not_found, **common}},
            "delete": {"operationId": "deleteAlbum", "security": signed_in,
                       "summary": "Delete the album (its images stay in your library)",
                       "responses": {"204": {"description": "Deleted."},
                                     "400": problem(f"{csrf}."), "403": problem(f"{read_only}."),
                                     **not_found, **common}},
        },
        f"{prefix}/albums/{{album_id}}/share-link": {
            "parameters": [_ALBUM_ID],
            "post": {"operationId": "rotateAlbumLink", "security": signed_in,
                     "summary": "A new share link (the old one stops working at once)",
                     "responses": {"200": json("The album with its new share_url.", "Album"),
                                   "400": problem(f"{csrf}."), "403": problem(f"{read_only}."),
                                   **not_found, **common}},
        },
        f"{prefix}/albums/{{album_id}}/images": {
            "parameters": [_ALBUM_ID],
            "get": {"operationId": "listAlbumImages",
                    "summary": "The album's images (cursor pages); trashed images are left out",
                    "parameters": [
                        {"name": "sort", "in": "query", "schema": {
                            "type": "string", "enum": ["taken", "added"], "default": "taken"},
                         "description": "Date taken (EXIF, else upload time) or date added."},
                        {"name": "order", "in": "query", "schema": {
                            "type": "string", "enum": ["newest", "oldest"], "default": "newest"}},
                        {"name": "cursor", "in": "query", "schema": {
                            "type": "string", "pattern": "^[A-Za-z0-9_-]{28}$"},
                         "description": "The next_cursor of the previous page (same sort)."},
                        {"name": "limit", "in": "query", "schema": {
                            "type": "integer", "minimum": 1, "maximum": 100, "default": 48}}],
                    "responses": {"200": json("A page of images.", "ImagePage"),
                                  "400": problem("validation_error: a bad sort, order, cursor "
                                                 "or limit, or an unknown parameter."),
                                  **not_found, **common}},
            "post": {"operationId": "addAlbumImages", "summary": "Add images to the album", **ids_op},
        },
        f"{prefix}/albums/{{album_id}}/images/remove": {
            "parameters": [_ALBUM_ID],
            "post": {"operationId": "removeAlbumImages",
                     "summary": "Take images out of the album (they stay in your library)", **ids_op},
        },
    }
