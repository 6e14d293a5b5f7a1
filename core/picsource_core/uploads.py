"""How large an upload request may be: one figure for the web tier and its Ingress.

The web tier refuses a larger body with its own 413 (``MAX_CONTENT_LENGTH`` on the upload
routes); the operator writes the same figure into the Ingress controller's body-size
annotation, so a proxy in front never cuts off an upload the application would accept
(ingress-nginx, for one, stops at 1 MiB unless told otherwise).
"""

from __future__ import annotations

#: Files' worth of bytes one upload request may carry: the upload page's script sends one
#: image per request, the no-script form and the API may send several.
FILES_PER_REQUEST = 10
#: Room for the multipart boundaries, part headers and form fields around the files.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def upload_request_limit(max_upload_bytes: int) -> int:
    """The largest request body the upload routes accept, for a per-image limit."""
    return max_upload_bytes * FILES_PER_REQUEST + MULTIPART_OVERHEAD_BYTES


def single_upload_bytes(max_upload_bytes: int) -> int:
    """The body of a request carrying one image of the largest accepted size."""
    return max_upload_bytes + MULTIPART_OVERHEAD_BYTES
