"""``picsource import PATH… --url URL``: bring a folder tree of photos into a gallery.

Why a client inside the web package: it speaks the web tier's JSON API (/api/v1) and
ships with it, but it runs on the user's machine, so it imports nothing from Flask or
the services and uses only the standard library (urllib, concurrent.futures, hashlib,
xml.etree): ``pip install picsource`` is enough, without the web extra.

Modules: ``files`` (walk, exclude, sniff by extension and magic bytes, hash),
``sidecars`` (Google Takeout JSON and XMP titles, descriptions, tags), ``client`` (HTTP
with retries and capped exponential backoff), ``progress`` (the progress line and the
summary), ``run`` (hash → lookup → upload → wait) and ``cli`` (arguments, token, exit codes).
"""
