"""Redact credentials from camera URLs and from error messages that may quote them.

Camera URLs often carry ``user:password@`` or a ``?token=`` query. Every log line and error the ingest stage
writes goes through :func:`redact_url` or :func:`redact_text`.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

logger = logging.getLogger(__name__)

MASK = "***"
_SECRET_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig|cred", re.IGNORECASE)
# userinfo of any scheme://user[:pass]@ inside free text (FFmpeg messages quote the URL they failed on).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]+@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:[^=&\s'\"]*(?:pass|pwd|token|secret|key|auth|sig|cred)[^=&\s'\"]*)=)[^&\s'\"]*",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """Return ``url`` with its user info and secret-looking query values replaced by ``***``.

    ``rtsp://admin:hunter2@10.0.0.5:554/live?token=abc`` becomes ``rtsp://***@10.0.0.5:554/live?token=***``.
    File paths and URLs without credentials come back unchanged.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, *urls: str) -> str:
    """Return ``text`` with each of ``urls`` replaced by its redacted form, and any other credentials masked.

    Args:
        text: A message, typically ``str(exc)`` of an FFmpeg error, which quotes the URL it failed on.
        *urls: URLs known to appear in ``text`` verbatim.
    """
    for url in urls:
        if url:
            text = text.replace(url, redact_url(url))
    text = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    return _QUERY_SECRET.sub(lambda m: m.group("key") + MASK, text)
