"""``picsource import PATH… --url URL``: arguments, the token, and exit codes.

Exit codes a script can rely on:

- 0: every supported file is on the server (uploaded now or before); unsupported files
  were skipped, and with ``--wait`` every uploaded image finished analysis as ready;
- 1: some files failed (the summary names each with the server's reason), or with
  ``--wait`` an analysis failed or did not finish within ``--wait-timeout``;
- 2: usage or configuration error (bad option, missing path, no token, bad URL, an
  --album name that is ambiguous or refused);
- 3: the server is unreachable (also after retrying through an outage for
  ``--retry-for`` seconds) or refused the token.

The summary goes to stdout; progress, retries and errors to stderr.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from picsource_web.importer.albums import AlbumRefused
from picsource_web.importer.client import Api, ImportAborted, Unreachable, check_url
from picsource_web.importer.progress import Progress, Tally, summary
from picsource_web.importer.run import Options, run_import

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
#: The first contact retries only briefly: a wrong URL should fail fast, not after minutes.
PROBE_RETRY_SECONDS = 5.0
VISIBILITIES = ("private", "unlisted", "public")


def _positive(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="picsource", description="PicSource command-line tools.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    imp = commands.add_parser(
        "import", help="upload a folder tree of photos (resumable)",
        description="Upload the photos under PATHs. The API token comes from PICSOURCE_TOKEN "
        "(or a prompt on a terminal). Exit codes: 0 all ok, 1 some files failed, 2 usage or "
        "configuration error, 3 server unreachable or token refused.")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or files")
    imp.add_argument("--url", default=os.environ.get("PICSOURCE_URL"),
                     help="the gallery's address, e.g. https://photos.example.org "
                     "(default: PICSOURCE_URL)")
    imp.add_argument("--jobs", type=_positive(int, 1, 32), default=4,
                     help="uploads at once (1-32, default 4)")
    imp.add_argument("--visibility", choices=VISIBILITIES,
                     help="visibility of the new images (default: the server's, private)")
    imp.add_argument("--tags", action="append", default=[], metavar="TAG,TAG",
                     help="tags for every image (comma-separated; repeatable)")
    imp.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                     help="skip files and folders whose path under PATH or name matches "
                     "(repeatable), e.g. --exclude '*.tmp' --exclude 'Trash'")
    imp.add_argument("--album", metavar="NAME",
                     help="put every imported photo in your album with this title, created if "
                     "there is none (a re-run adds what is missing)")
    imp.add_argument("--dry-run", action="store_true",
                     help="hash and ask the server, but upload nothing")
    imp.add_argument("--wait", action="store_true",
                     help="follow analysis until every uploaded image is ready or failed")
    imp.add_argument("--wait-timeout", type=_positive(float, 0, 7 * 86400), default=600.0,
                     metavar="SECONDS", help="how long --wait follows (default 600)")
    imp.add_argument("--retry-for", type=_positive(float, 0, 7 * 86400), default=600.0,
                     metavar="SECONDS", help="how long one request is retried through a "
                     "server outage before giving up with exit code 3 (default 600)")
    imp.add_argument("--max-backoff", type=_positive(float, 0.01, 3600), default=10.0,
                     metavar="SECONDS", help="the longest wait between two retries (default 10)")
    imp.add_argument("--timeout", type=_positive(float, 1, 3600), default=60.0,
                     metavar="SECONDS", help="per-request network timeout (default 60)")
    return top


def _token(stdin: TextIO, err: TextIO) -> str | None:
    token = os.environ.get("PICSOURCE_TOKEN", "").strip()
    if token:
        return token
    if stdin.isatty():
        try:
            return getpass.getpass("PicSource API token: ").strip() or None
        except (EOFError, KeyboardInterrupt):
            return None
    return None


def run(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
        err: TextIO | None = None, stdin: TextIO | None = None) -> int:
    """The command; returns the exit code (``main`` exits with it)."""
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return EXIT_USAGE if exc.code else EXIT_OK
    if not args.url:
        err.write("picsource import: give the server with --url URL (or PICSOURCE_URL)\n")
        return EXIT_USAGE
    if problem := check_url(args.url):
        err.write(f"picsource import: {problem}\n")
        return EXIT_USAGE
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        err.write(f"picsource import: no such file or folder: {', '.join(missing)}\n")
        return EXIT_USAGE
    token = _token(stdin, err)
    if token is None:
        err.write("picsource import: no API token: set PICSOURCE_TOKEN (create a token under "
                  "Settings → API tokens), or run on a terminal to be asked for it\n")
        return EXIT_USAGE
    progress = Progress(err, interactive=err.isatty())
    api = Api(args.url, token, timeout=args.timeout, retry_for=args.retry_for,
              max_backoff=args.max_backoff,
              on_retry=progress.retrying)
    opts = Options(roots=list(args.paths), excludes=args.exclude,
                   tags=[t for value in args.tags for t in value.split(",")],
                   visibility=args.visibility, dry_run=args.dry_run, jobs=args.jobs,
                   wait=args.wait, wait_timeout=args.wait_timeout, album=args.album)
    tally = Tally()
    code = EXIT_OK
    try:
        try:
            me = api.get_json("/api/v1/me", retry_for=min(args.retry_for, PROBE_RETRY_SECONDS))
        except Unreachable as exc:
            raise Unreachable(f"{exc} Is --url right, and is the gallery up?") from None
        if me.status != 200 or not isinstance(me.body, dict) or "username" not in me.body:
            raise Unreachable(f"{args.url} does not look like a PicSource server "
                              f"(GET /api/v1/me answered {me.status}).")
        progress.message(f"importing into {args.url} as {me.body['username']}"
                         + (" (dry run: nothing is uploaded)" if args.dry_run else ""))
        run_import(api, opts, progress, tally)
    except AlbumRefused as exc:
        err.write(f"picsource import: {exc}\n")
        code = EXIT_USAGE
    except ImportAborted as exc:
        err.write(f"picsource import: {exc}\n")
        code = EXIT_UNREACHABLE
    except KeyboardInterrupt:
        api.stopped.set()
        err.write("picsource import: interrupted; run the same command again to resume\n")
        code = EXIT_FAILED
    out.write("\n".join(summary(tally, dry_run=args.dry_run, waited=args.wait)) + "\n")
    out.flush()
    if code == EXIT_OK and (tally.failed or tally.analysis_failed or tally.pending):
        code = EXIT_FAILED
    return code


def main() -> None:
    """The ``picsource`` console script."""
    sys.exit(run())
