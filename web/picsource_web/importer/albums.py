"""``picsource import --album NAME``: the album every imported photo ends up in.

Why resolve first: a bad or ambiguous name must stop the import before anything is
uploaded (exit 2), and a re-run must find the album it made the first time instead of
making another. Membership is idempotent on the server (an image already in the album
answers ``already_in_album``), so a resumed import adds what was missing, including the
photos an earlier, interrupted run uploaded but never added.
"""

from __future__ import annotations

from dataclasses import dataclass

from picsource_web.importer.client import Api, BadToken, ImportAborted, Unreachable

ADD_BATCH = 500  # the API's limit of image ids per call (core albums.MAX_IDS_PER_CALL)


class AlbumRefused(ImportAborted):
    """The album name cannot be used (ambiguous, or refused by the server): a usage error."""


@dataclass
class AlbumTarget:
    title: str
    id: str | None  # None: a dry run that would create it
    created: bool = False
    added: int = 0
    already: int = 0
    missing: int = 0


def normalise(title: str) -> str:
    """The title as the server stores it (runs of whitespace are one space)."""
    return " ".join(title.split())


def resolve(api: Api, title: str, *, dry_run: bool) -> AlbumTarget:
    """The caller's album with exactly this title, made when there is none (not in a dry run)."""
    wanted = normalise(title)
    if not wanted:
        raise AlbumRefused("--album needs a name with at least one visible character.")
    answer = api.get_json("/api/v1/albums")
    if answer.status in (401, 403):
        raise BadToken(f"The server refused to list your albums ({answer.status}: {answer.detail}).")
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise Unreachable(f"Listing your albums failed ({answer.status}: {answer.detail}).")
    same = [a for a in answer.body.get("items") or []
            if isinstance(a, dict) and a.get("is_owner") and normalise(str(a.get("title", ""))) == wanted]
    if len(same) > 1:
        raise AlbumRefused(f'{len(same)} of your albums are titled "{wanted}"; rename one, or '
                           "import into another name.")
    if same:
        return AlbumTarget(wanted, str(same[0]["id"]))
    if dry_run:
        return AlbumTarget(wanted, None)
    made = api.post_json("/api/v1/albums", {"title": wanted})
    if made.status == 403:
        raise BadToken(f"The server refused to create the album (403: {made.detail}).")
    if made.status == 400:
        raise AlbumRefused(f'The album "{wanted}" cannot be created: {made.detail}')
    if made.status != 201 or not isinstance(made.body, dict) or "id" not in made.body:
        raise Unreachable(f"Creating the album failed ({made.status}: {made.detail}).")
    return AlbumTarget(wanted, str(made.body["id"]), created=True)


def add_all(api: Api, target: AlbumTarget, image_ids: list[str]) -> None:
    """Add the images, ADD_BATCH per call, counting what each call answered."""
    if target.id is None:
        return
    for start in range(0, len(image_ids), ADD_BATCH):
        batch = image_ids[start:start + ADD_BATCH]
        answer = api.post_json(f"/api/v1/albums/{target.id}/images", {"image_ids": batch})
        if answer.status == 404:
            raise AlbumRefused(f'The album "{target.title}" was deleted during the import.')
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise Unreachable(f"Adding images to the album failed ({answer.status}: {answer.detail}).")
        for item in answer.body.get("results") or []:
            result = item.get("result") if isinstance(item, dict) else None
            if result == "added":
                target.added += 1
            elif result == "already_in_album":
                target.already += 1
            else:
                target.missing += 1


def summary_line(target: AlbumTarget, *, dry_run: bool) -> str:
    if target.id is None:
        return f'album "{target.title}": would be created'
    if dry_run:
        return f'album "{target.title}": exists'
    made = " (created)" if target.created else ""
    gone = f", {target.missing} no longer on the server" if target.missing else ""
    return f'album "{target.title}"{made}: {target.added} added, {target.already} already in it{gone}'
