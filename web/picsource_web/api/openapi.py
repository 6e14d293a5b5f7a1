"""The OpenAPI 3.1 document for /api/v1, written by hand as a plain dict.

Why by hand: the API is small, and a literal document reviews like any other code. A
test walks ``app.url_map`` and fails when a route is undocumented or a documented
path/method does not exist, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from picsource_core.search import COLOUR_FAMILIES
from picsource_web.api import openapi_albums
from picsource_web.api.problems import CODES
from picsource_web.sessions import SESSION_COOKIE

API_PREFIX = "/api/v1"


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _json(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_ID = {"name": "image_id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}
_COMMON = {"401": _problem("Missing or invalid credentials."),
           "429": _problem("rate_limited: too many invalid tokens from this client."),
           "503": _problem("MongoDB or object storage is unavailable.")}
# Upload, edit, delete and /me need credentials; the document's default also allows none ({}).
_SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
_CSRF = "csrf_failed: a session-cookie request without a valid X-CSRF-Token header"
_NOT_FOUND = {"404": _problem("No such image, or it is not visible to you.")}
_READ_ONLY = "forbidden (reason read_only_token): a read-only API token may only read"

def _query(name: str, schema: dict[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    """A listing filter. An empty value (``colour=``, as an HTML form sends an unset choice)
    is the same as leaving the parameter out; the document says so with allowEmptyValue."""
    parameter = {"name": name, "in": "query", "allowEmptyValue": True, "schema": schema, **extra}
    return {**parameter, "description": description} if description else parameter


# services/query.py: dates bound the date taken (picsource_core.timeline), 1826-01-01 .. 2105-12-31.
_YEAR = r"(18(2[6-9]|[3-9][0-9])|19[0-9][0-9]|20[0-9][0-9]|210[0-5])"
_DATE = {"type": "string", "format": "date", "pattern": rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"}
_DATE_RANGE = "YYYY-MM-DD, from 1826-01-01 to 2105-12-31"
_COLOUR = {"type": "string", "enum": list(COLOUR_FAMILIES)}

_LIST_PARAMS: list[dict[str, Any]] = [
    _query("q", {"type": "string", "maxLength": 300}, "Search text, at most 12 words: finds the "
           "images whose title, description, tags, labels, caption or OCR text hold all its words, "
           "and those whose text is near it in meaning (semantic search). Results are ranked by "
           "relevance, words and meaning together (sort, by and month do not apply), at most 200, "
           "paged by next_cursor; `matched` says why each was found. A query that means nothing "
           "and matches no word finds nothing."),
    _query("tag", {"type": "string", "maxLength": 64}, "One tag (tags are at most 64 characters)."),
    _query("colour", _COLOUR, "Images of this colour family (case-insensitive)."),
    _query("color", _COLOUR, "The same as colour; with both, they must agree.", deprecated=True),
    _query("from", _DATE, f"Taken on or after this date ({_DATE_RANGE}); the date taken is "
           "the EXIF capture time when the image has a plausible one, else the upload time."),
    _query("to", _DATE, f"Taken on or before this date ({_DATE_RANGE}); not before from."),
    _query("has_text", {"type": "string", "enum": ["yes", "no", "any"]},
           "Only images with (yes) or without (no) recognised text (case-insensitive)."),
    _query("favourite", {"type": "string", "enum": ["yes", "no", "any"]},
           "Only your favourites (yes) or the others (no); scope=mine only (else 400)."),
    _query("archived", {"type": "string", "enum": ["yes", "no", "any"]},
           "Archived images (yes) or the others (no); scope=mine only (else 400). Default: no "
           "for a plain listing (archived images leave the main grid), any when searching "
           "or filtering by favourite."),
    _query("sort", {"type": "string", "enum": ["newest", "oldest"], "default": "newest"},
           "The direction of the order chosen by `by`."),
    _query("by", {"type": "string", "enum": ["taken", "added"], "default": "taken"},
           "Order by date taken (the EXIF capture time, else the upload time; the default "
           "since #12) or by date added (upload order, the order before #12). Searches by "
           "q, tag or colour are always in date-added order. A cursor belongs to the order "
           "it came from."),
    _query("month", {"type": "string", "pattern": rf"^{_YEAR}-(0[1-9]|1[0-2])$"},
           "YYYY-MM: start the page at this month of the date-taken order (newest first: "
           "images taken in it or earlier; oldest first: in it or later), then page on by "
           "cursor. Not a filter; ignored with a cursor or by=added."),
    _query("scope", {"type": "string", "enum": ["mine", "public"]}, "mine: your own images "
           "(signed in); public: everyone's public images. Default: mine when signed in, else public."),
    _query("cursor", {"type": "string", "pattern": "^([A-Za-z0-9_-]{16}|~[0-9]{1,3})$"},
           "The opaque next_cursor of the previous page (a search with q has cursors of its "
           "own, which only page that search)."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 48}),
]

_IMAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "description", "tags", "visibility", "status", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "is_owner": {"type": "boolean"},
        "matched": {"type": "array", "items": {"type": "string", "enum": [
            "title", "description", "caption", "text in image", "tag", "label", "meaning"]},
            "description": "Search results only (with q): where the words matched, then "
                           "\"meaning\" when the image's text is near the query in meaning."},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"type": "string", "enum": ["private", "unlisted", "public"]},
        "status": {"type": "string", "enum": ["pending", "processing", "ready", "failed"]},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "bytes": {"type": "integer"},
        "content_type": {"type": "string", "description": "The original's MIME type: "
                         "image/jpeg, image/png, image/webp, image/gif, image/avif, "
                         "image/heic (HEVC-coded HEIF, as iPhones write) or image/heif."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "colour_families": {"type": "array", "items": {"type": "string"}},
        "dominant_colour": {"type": ["string", "null"]},
        "has_text": {"type": "boolean"},
        "caption": {"type": ["string", "null"]},
        "alt": {"type": "string", "description": "Caption, else title: use as alt text."},
        "share_url": {"type": ["string", "null"], "description": "Only for the owner."},
        "favourite": {"type": ["boolean", "null"], "description": "Only for the owner."},
        "archived": {"type": ["boolean", "null"], "description": "Only for the owner: "
                     "archived images leave the main listing, not search."},
        "trashed_at": {"type": ["string", "null"], "format": "date-time",
                       "description": "Only for the owner: when it went to the trash (null: not in it)."},
        "urls": {"type": "object", "properties": {
            "original": {"type": ["string", "null"], "description":
                         "The owner gets the untouched file; anyone else a copy with GPS and "
                         "other location tags removed (other EXIF kept), or null while that "
                         "copy cannot be given (not checked yet, or not removable losslessly)."},
            "thumbnail": {"type": ["string", "null"]}, "large": {"type": ["string", "null"]},
            "page": {"type": "string"}, "self": {"type": "string"}}},
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "PicSource API",
        "version": "1.0.0",
        "description": "Upload, browse and search images. Authenticate with "
        "`Authorization: Bearer <personal token>` (create one in Settings) or the session "
        "cookie; with the cookie, state-changing calls need the X-CSRF-Token header. "
        "Errors are application/problem+json with a stable `code`.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"session": []}, {}],
    "paths": {
        f"{API_PREFIX}/": {
            "get": {"operationId": "apiIndex", "summary": "Entry point with links",
                    "security": [{}], "responses": {"200": {
                        "description": "Name, version and links.",
                        "content": {"application/json": {}}}}},
        },
        f"{API_PREFIX}/images": {
            "get": {
                "operationId": "listImages", "summary": "List or search images (cursor pagination)",
                "parameters": _LIST_PARAMS,
                "responses": {"200": _json("A page of images.", "ImagePage"),
                              "400": _problem("A malformed filter or cursor."), **_COMMON},
            },
            "post": {
                "operationId": "uploadImages", "summary": "Upload one or more images",
                "description": "Each file is judged by its content, not its name or type: "
                               "JPEG, PNG, WebP, GIF, AVIF and HEIC/HEIF (iPhone photos) are "
                               "accepted. The original is kept byte for byte and served with "
                               "its own type (image/heic, image/heif, image/avif...); "
                               "thumbnails are WebP.",
                "security": _SIGNED_IN,
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "minItems": 1, "maxItems": 20,
                                 "items": {"type": "string", "format": "binary"},
                                 "description": "JPEG, PNG, WebP, GIF, AVIF or HEIC/HEIF."},
                        "title": {"type": "string", "maxLength": 200},
                        "description": {"type": "string", "maxLength": 5000},
                        "tags": {"type": "string", "description": "Comma-separated tags: at "
                                 "most 30, each at most 64 characters."},
                        "visibility": {"type": "string", "enum": ["private", "unlisted", "public"]},
                    }}}}},
                "responses": {
                    "201": _json("The created images (and any duplicates that were skipped).",
                                 "UploadResult"),
                    "400": _problem(f"empty_file, validation_error (metadata); {_CSRF}."),
                    "403": _problem("quota_exceeded: the image count or byte quota is used up; "
                                    f"{_READ_ONLY}."),
                    "409": _problem("Every file was already uploaded (duplicate)."),
                    "413": _problem("A file or the request is too large."),
                    "415": _problem("unsupported_media_type: not an accepted image format "
                                    "(by content), or the body is not multipart/form-data."),
                    "422": _problem("Too many pixels, or the image cannot be decoded "
                                    "(damaged or truncated, a HEIC/AVIF header included)."),
                    "507": _problem("quota_exceeded (reason quota_gallery_bytes): the gallery's "
                                    "total storage cap (GALLERY_QUOTA_BYTES) is reached."),
                    **_COMMON,
                },
            },
        },
        f"{API_PREFIX}/images/lookup": {
            "post": {
                "operationId": "lookupImages", "security": _SIGNED_IN,
                "summary": "Which of these SHA-256s you already uploaded (your own images only)",
                "description": "For importers that resume: hash locally, ask in batches of at "
                "most 1000, upload only the missing. Other users' images are never reported.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/LookupRequest"}}}},
                "responses": {"200": _json("Found (hash -> image id) and missing hashes.",
                                           "LookupResult"),
                              "400": _problem("validation_error: not a list, more than 1000 "
                                              f"hashes, or an item (named) not 64 hex digits; {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              "415": _problem("The body is not application/json."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/map": {
            "get": {
                "operationId": "getMap", "security": _SIGNED_IN,
                "summary": "Your photos with a GPS position, in clusters for a view",
                "description": "Only your own photos (nobody else's positions are ever "
                "answered). A view is a centre and a width in degrees of longitude (its height "
                "is half of it); each cluster is one cell of a 16-cell-wide grid over the view, "
                "at the mean position of its photos, with the newest few ids. At most 20,000 "
                "photos are read per view (newest first; `truncated` says when there were more).",
                "parameters": [
                    _query("lat", {"type": "number", "minimum": -90, "maximum": 90}, "Centre latitude (default 20)."),
                    _query("lon", {"type": "number", "minimum": -180, "maximum": 180}, "Centre longitude (default 0)."),
                    _query("span", {"type": "number", "minimum": 0.05, "maximum": 360},
                           "Width of the view in degrees (default 360, the world)."),
                ],
                "responses": {"200": _json("The view and its clusters.", "MapView"),
                              "400": _problem("validation_error: lat, lon or span is not a number in its range."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/duplicates": {
            "get": {
                "operationId": "listDuplicates", "security": _SIGNED_IN,
                "summary": "Your near-identical photos in groups, a keeper suggested for each",
                "description": "Groups of photos the worker found near-identical by perceptual "
                "hash (re-saves, resizes, bursts); photos in the trash are left out. The keeper "
                "has the most pixels, then the most camera metadata, then the largest file.",
                "responses": {"200": _json("The groups, newest first.", "DuplicateGroups"), **_COMMON},
            },
        },
        f"{API_PREFIX}/duplicates/resolve": {
            "post": {
                "operationId": "resolveDuplicates", "security": _SIGNED_IN,
                "summary": "Keep one photo, move the others to the trash, carrying their tags, favourite and albums over",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/DuplicateResolve"}}}},
                "responses": {"200": _json("What was kept, trashed and carried over.", "DuplicateResolved"),
                              "400": _problem("validation_error: keep or an id in trash is not an image "
                                              f"id, trash is empty or longer than 50, or names keep; {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              "404": _problem("not_found: an id is not one of your photos; nothing was changed."),
                              "409": _problem("conflict (reason in_trash): a photo is in the trash already; "
                                              "nothing was changed."),
                              "415": _problem("The body is not application/json."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/suggest": {
            "get": {
                "operationId": "suggest",
                "summary": "Autocomplete: your own tags and labels that have a word starting with q",
                "description": "Built from your newest 2,000 images (tags, and the labels the "
                "worker gave them), most used first, at most 10; case and accents are ignored. "
                "Without credentials the list is empty: only your own words are ever suggested.",
                "parameters": [_query("q", {"type": "string", "maxLength": 64}, "What was typed so far.")],
                "responses": {"200": _json("Suggestions, most used first.", "Suggestions"),
                              "400": _problem("validation_error: q longer than 64 characters, or an "
                                              "unknown parameter."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/images/bulk": {
            "post": {
                "operationId": "bulkImages", "security": _SIGNED_IN,
                "summary": "One action on many of your images, with a result per image",
                "description": "Trash, restore, (un)favourite, (un)archive, set visibility, add "
                "or remove tags on up to 500 of your own images. The whole selection is checked "
                "first: an id that is not your image, an image in the trash (for anything but "
                "trash/restore) or an edit past an image's limits refuses the call and changes "
                "nothing. Idempotent: a repeated call answers `unchanged` where it already applied, "
                "so after a 503 send the same call again.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/BulkRequest"}}}},
                "responses": {"200": _json("A result per image, in the order asked.", "BulkResult"),
                              "400": _problem("validation_error: an unknown action or field, no ids "
                                              "or more than 500, an id that is not 24 hex digits, a "
                                              "missing visibility or tags, more than 30 tags on an "
                                              f"image (reason too_many_tags); {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              "404": _problem("not_found: an id is not one of your images (named in "
                                              "the detail); nothing was changed."),
                              "409": _problem("conflict (reason in_trash): an image is in the trash; "
                                              "nothing was changed."),
                              "415": _problem("The body is not application/json."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/images/zip": {
            "post": {
                "operationId": "zipImages", "security": _SIGNED_IN,
                "summary": "Download the originals of up to 500 of your images as one zip",
                "description": "Streamed as it is written (stored, not compressed: photos are "
                "compressed already), the untouched originals under unique names. Also takes a "
                "form post (`ids` fields and `csrf_token`), so a browser downloads it straight "
                "to disk. Bounded before the first byte: at most 500 images and ZIP_MAX_BYTES of "
                "originals. If storage fails mid-way the download stops short and the zip is "
                "unfinished (no central directory), never complete-looking.",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ZipRequest"}},
                    "application/x-www-form-urlencoded": {"schema": {
                        "$ref": "#/components/schemas/ZipRequest"}}}},
                "responses": {"200": {"description": "The zip.", "content": {"application/zip": {
                                  "schema": {"type": "string", "format": "binary"}}}},
                              "400": _problem(f"validation_error: no ids, more than 500, or an id "
                                              f"that is not 24 hex digits; {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              "404": _problem("not_found: an id is not one of your images."),
                              "413": _problem("payload_too_large (reason selection_too_large): the "
                                              "originals add up to more than ZIP_MAX_BYTES."),
                              "415": _problem("The body is neither JSON nor a form."),
                              "401": _COMMON["401"], "429": _COMMON["429"],
                              "503": _problem("service_unavailable: MongoDB or storage is down, or "
                                              "(reason busy) this process streams its most zips "
                                              "already; try again shortly.")},
            },
        },
        f"{API_PREFIX}/images/{{image_id}}": {
            "parameters": [_ID],
            "get": {"operationId": "getImage", "summary": "One image",
                    "responses": {"200": _json("The image.", "Image"), **_NOT_FOUND, **_COMMON}},
            "patch": {
                "operationId": "updateImage",
                "summary": "Change title, description, tags or visibility; favourite or archive it",
                "security": _SIGNED_IN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/ImagePatch"}}}},
                "responses": {"200": _json("The updated image.", "Image"),
                              "400": _problem(f"validation_error: invalid fields; {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              "415": _problem("The body is not application/json."),
                              **_NOT_FOUND, **_COMMON},
            },
            "delete": {
                "operationId": "deleteImage", "security": _SIGNED_IN,
                "summary": "Move the image to the trash, or delete it for good",
                "description": "Without permanent (or permanent=false) the image moves to the "
                "trash: it leaves every listing and share link at once, still counts towards "
                "quotas, and can be restored until TRASH_DAYS (default 30) pass, when the worker "
                "deletes it for good. permanent=true deletes it for good now: metadata, original, "
                "thumbnails and pending jobs.",
                "parameters": [{"name": "permanent", "in": "query", "schema": {
                    "type": "string", "enum": ["true", "false"], "default": "false"}}],
                "responses": {"204": {"description": "Moved to the trash (or deleted for good)."},
                              "400": _problem(f"validation_error: permanent is not true or false; {_CSRF}."),
                              "403": _problem(f"{_READ_ONLY}."),
                              **_NOT_FOUND, **_COMMON},
            },
        },
        f"{API_PREFIX}/images/{{image_id}}/restore": {
            "parameters": [_ID],
            "post": {
                "operationId": "restoreImage", "security": _SIGNED_IN,
                "summary": "Take the image out of the trash",
                "responses": {"200": _json("The restored image.", "Image"),
                              "400": _problem(f"{_CSRF}."), "403": _problem(f"{_READ_ONLY}."),
                              "409": _problem("conflict: the image is not in the trash."),
                              **_NOT_FOUND, **_COMMON},
            },
        },
        f"{API_PREFIX}/trash": {
            "get": {
                "operationId": "listTrash", "security": _SIGNED_IN,
                "summary": "Your trashed images, newest first (cursor pagination)",
                "parameters": [p for p in _LIST_PARAMS
                               if p["name"] not in ("scope", "favourite", "archived")],
                "responses": {"200": _json("A page of trashed images.", "ImagePage"),
                              "400": _problem("A malformed filter or cursor."), **_COMMON},
            },
            "delete": {
                "operationId": "emptyTrash", "security": _SIGNED_IN,
                "summary": "Empty your trash: delete every image in it for good",
                "responses": {"200": {"description": "How many images were deleted.",
                                      "content": {"application/json": {"schema": {
                                          "type": "object", "required": ["purged"],
                                          "properties": {"purged": {"type": "integer"}}}}}},
                              "400": _problem(f"{_CSRF}."), "403": _problem(f"{_READ_ONLY}."),
                              **_COMMON},
            },
        },
        f"{API_PREFIX}/images/{{image_id}}/analysis": {
            "parameters": [_ID],
            "get": {"operationId": "getAnalysis", "summary": "Analysis status and results",
                    "responses": {"200": _json("Status and results.", "Analysis"),
                                  **_NOT_FOUND, **_COMMON}},
        },
        f"{API_PREFIX}/me": {
            "get": {"operationId": "whoAmI", "summary": "The authenticated user",
                    "security": _SIGNED_IN,
                    "responses": {"200": _json("The user.", "Me"), **_COMMON}},
        },
        f"{API_PREFIX}/openapi.json": {
            "get": {"operationId": "openapi", "summary": "This document", "security": [{}],
                    "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                          "content": {"application/json": {}}}}},
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "A personal API token (psk_...)."},
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        },
        "schemas": {
            "Problem": {
                "type": "object", "required": ["type", "title", "status", "detail", "code"],
                "properties": {
                    "type": {"type": "string", "format": "uri"},
                    "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "instance": {"type": "string"},
                    "code": {"type": "string", "enum": sorted(CODES)},
                    "errors": {"type": "array", "items": {"type": "object"}},
                },
            },
            "Image": _IMAGE_SCHEMA,
            "ImagePage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
                "next_cursor": {"type": ["string", "null"]},
                "meaning_pending": {"type": "boolean", "description": (
                    "Only with q: true when this page was found by words alone because search by "
                    "meaning is getting ready (the server is reading the scope's vectors for the "
                    "first time); the same search a moment later is ranked by meaning too.")}}},
            "ImagePatch": {"type": "object", "additionalProperties": False, "minProperties": 1,
                           "properties": {
                               "title": {"type": "string", "maxLength": 200},
                               "description": {"type": "string", "maxLength": 5000},
                               "tags": {"type": ["array", "string"], "maxItems": 30,
                                        "items": {"type": "string", "maxLength": 64},
                                        "description": "A list, or one comma-separated string."},
                               "visibility": {"type": "string",
                                              "enum": ["private", "unlisted", "public"]},
                               "favourite": {"type": "boolean"},
                               "archived": {"type": "boolean"}}},
            "UploadResult": {"type": "object", "properties": {
                "images": {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
                "duplicates": {"type": "array", "items": {"type": "object", "properties": {
                    "filename": {"type": "string"}, "existing_id": {"type": "string"}}}}}},
            "LookupRequest": {"type": "object", "additionalProperties": False,
                              "required": ["sha256"], "properties": {
                                  "sha256": {"type": "array", "maxItems": 1000, "items": {
                                      "type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}}},
            "LookupResult": {"type": "object", "required": ["found", "missing"], "properties": {
                "found": {"type": "object", "additionalProperties": {"type": "string"},
                          "description": "sha256 (lower case) -> the id of your image"},
                "missing": {"type": "array", "items": {"type": "string"}}}},
            "MapView": {"type": "object", "required": ["view", "clusters", "total", "truncated"], "properties": {
                "view": {"type": "object", "properties": {k: {"type": "number"} for k in (
                    "lat", "lon", "span", "south", "west", "north", "east")}},
                "clusters": {"type": "array", "items": {"type": "object", "properties": {
                    "lat": {"type": "number"}, "lon": {"type": "number"}, "count": {"type": "integer"},
                    "image_ids": {"type": "array", "items": {"type": "string"}}}}},
                "total": {"type": "integer"}, "truncated": {"type": "boolean"}}},
            "DuplicateGroups": {"type": "object", "required": ["groups"], "properties": {
                "groups": {"type": "array", "items": {"type": "object", "required": ["keeper", "images"], "properties": {
                    "keeper": {"type": "string"},
                    "images": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "title": {"type": "string"},
                        "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]},
                        "bytes": {"type": ["integer", "null"]}, "favourite": {"type": "boolean"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "exif_fields": {"type": "integer"},
                        "thumb_url": {"type": ["string", "null"]}}}}}}}}},
            "DuplicateResolve": {"type": "object", "additionalProperties": False, "required": ["keep", "trash"],
                                 "properties": {
                                     "keep": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
                                     "trash": {"type": "array", "minItems": 1, "maxItems": 50,
                                               "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}}},
            "DuplicateResolved": {"type": "object", "properties": {
                "kept": {"type": "string"}, "trashed": {"type": "integer"}, "tags_added": {"type": "integer"},
                "albums_added": {"type": "integer"}, "favourite": {"type": "boolean"}}},
            "Suggestions": {"type": "object", "required": ["suggestions"], "properties": {
                "suggestions": {"type": "array", "maxItems": 10, "items": {
                    "type": "object", "required": ["text", "kind", "count"], "properties": {
                        "text": {"type": "string"}, "kind": {"type": "string", "enum": ["tag", "label"]},
                        "count": {"type": "integer"}}}}}},
            "BulkRequest": {
                "type": "object", "additionalProperties": False, "required": ["action", "ids"],
                "properties": {
                    "action": {"type": "string", "enum": [
                        "trash", "restore", "favourite", "unfavourite", "archive", "unarchive",
                        "set_visibility", "add_tags", "remove_tags"]},
                    "ids": {"type": "array", "minItems": 1, "maxItems": 500,
                            "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"}},
                    "visibility": {"type": "string", "enum": ["private", "unlisted", "public"],
                                   "description": "With set_visibility only (and required there)."},
                    "tags": {"type": "array", "minItems": 1, "maxItems": 30,
                             "items": {"type": "string", "maxLength": 64},
                             "description": "With add_tags and remove_tags only (and required there)."}}},
            "BulkResult": {"type": "object", "required": ["action", "changed", "unchanged", "results"],
                           "properties": {
                               "action": {"type": "string"},
                               "changed": {"type": "integer"}, "unchanged": {"type": "integer"},
                               "results": {"type": "array", "items": {
                                   "type": "object", "required": ["id", "result"], "properties": {
                                       "id": {"type": "string"},
                                       "result": {"type": "string", "enum": ["changed", "unchanged"]}}}}}},
            "ZipRequest": {"type": "object", "additionalProperties": False, "required": ["ids"],
                           "properties": {"ids": {"type": "array", "minItems": 1, "maxItems": 500,
                                                  "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}}},
            "Analysis": {"type": "object", "required": ["id", "status"], "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "processing", "ready", "failed"]},
                "error": {"type": ["string", "null"]},
                "analysed_at": {"type": ["string", "null"], "format": "date-time"},
                "result": {"type": "object"}}},
            "Me": {"type": "object", "properties": {
                "id": {"type": "string"}, "username": {"type": "string"},
                "is_admin": {"type": "boolean"}, "auth": {"type": "string",
                                                         "enum": ["token", "session"]}}},
        },
    },
}


_DOCUMENT["paths"].update(openapi_albums.paths(API_PREFIX, _problem, _json, _COMMON, _SIGNED_IN,
                                               _CSRF, _READ_ONLY))
_DOCUMENT["components"]["schemas"].update(openapi_albums.SCHEMAS)


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy is not needed: callers only serialise it)."""
    return _DOCUMENT


def documented_operations() -> set[tuple[str, str]]:
    """(path, METHOD) pairs documented, for the route-coverage test."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options"}
    return {(path, method.upper()) for path, item in _DOCUMENT["paths"].items()
            for method in item if method in methods}
