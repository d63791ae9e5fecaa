"""One message made safe to read: its HTML sanitized again for a sandboxed frame, its attachments and raw mail
fetched from the tenant's blob store, and the headers each of those responses carries.

The frame is the third line of defence. Mail HTML was sanitized when it was parsed (perhaps under older rules), is
sanitized again here with stricter ones, and the frame's own CSP and sandbox allow no script, no form, no request
leaving for another host unless the agent asked to see the remote images of that one message.

Inline ``cid:`` images become ``data:`` URLs inside the frame document: the frame has an opaque origin (it is
sandboxed without ``allow-same-origin``), so Chromium sends its requests without the SameSite session cookie and an
image route behind the login would only ever answer with a redirect.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

from app.inbound.blobs import store_for_region
from app.tickets.models import Message, MessageAttachment
from tenants.models import Tenant
from tenants.regions import get_region

INLINE_IMAGE_LIMIT = 2 * 1024 * 1024  # one inline image; a bigger one stays a download
INLINE_TOTAL_LIMIT = 8 * 1024 * 1024  # all inline images of one message together
# No "<" or ">" (the template writes it unescaped inside <style>); its hash is the only style the frame allows.
FRAME_STYLE = ("body{margin:.5rem;font:15px/1.5 system-ui,sans-serif;color:#1d2330;background:#fff;"
               "overflow-wrap:anywhere}img{max-width:100%;height:auto}pre{white-space:pre-wrap}"
               "table{max-width:100%}blockquote{margin:0 0 0 .8rem;padding-left:.8rem;border-left:3px solid #ccd}")
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(FRAME_STYLE.encode()).digest()).decode()
# Downloads: never rendered by the browser, never embedded by another site, never cached on shared machines.
DOWNLOAD_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "same-origin",
                    "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
_URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}  # the filter below narrows them per attribute
_DROP_WITH_CONTENT = {"script", "style", "iframe", "noscript", "object", "template", "title", "textarea", "svg",
                      "math"}
_REMOTE = ("http:", "https:")
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp)[;,]")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"),
          (b"\xff\xd8\xff", "image/jpeg"))
INLINE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})  # never SVG: it can carry script


@dataclass
class Rendered:
    html: str
    remote_images: int  # remote image sources found (removed unless they were allowed)


def render_html(html: str, *, images: Mapping[str, str] | None = None, allow_remote: bool = False) -> Rendered:
    """``html`` sanitized for the frame. Links keep only http(s) and mailto targets and open a new tab without a
    referrer; ``cid:`` images take their data: URL from ``images`` (Content-ID, lower case → URL) or go; data:
    images stay only as PNG, GIF, JPEG or WebP; remote images go unless ``allow_remote``; relative URLs go."""
    images = images or {}
    remote = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal remote
        if attribute not in ("src", "href", "cite"):
            return value
        url = value.strip()
        lowered = url.lower()
        if tag == "img" and attribute == "src":
            if lowered.startswith("cid:"):
                return images.get(unquote(url[4:]).strip("<> ").lower())
            if lowered.startswith(_REMOTE):
                remote += 1
                return url if allow_remote else None
            return url if _DATA_IMAGE.match(lowered) else None
        allowed = (*_REMOTE, "mailto:") if attribute == "href" else _REMOTE
        return url if lowered.startswith(allowed) else None

    cleaned = nh3.clean(html, url_schemes=set(_URL_SCHEMES), clean_content_tags=set(_DROP_WITH_CONTENT),
                        link_rel="noopener noreferrer", set_tag_attribute_values={"a": {"target": "_blank"}},
                        attribute_filter=keep, strip_comments=True)
    return Rendered(cleaned, remote)


def remote_image_count(message: Message) -> int:
    """How many remote images the message's HTML asks for (the "Remote images are blocked" notice)."""
    return render_html(message.html).remote_images if message.html else 0


def frame_html(tenant: Tenant, message: Message, *, allow_remote: bool) -> Rendered:
    return render_html(message.html or "", images=inline_images(tenant, message), allow_remote=allow_remote)


def frame_headers(*, allow_remote: bool) -> dict[str, str]:
    """The frame's own policy: no script, no form, no plugin, no frame, no navigation of the page around it; only
    data: images unless remote ones were allowed; framed by our own pages only."""
    images = "data: http: https:" if allow_remote else "data:"
    policy = "; ".join(["default-src 'none'", "script-src 'none'", f"style-src '{STYLE_HASH}'",
                        f"img-src {images}", "form-action 'none'", "base-uri 'none'", "frame-ancestors 'self'",
                        "sandbox allow-popups allow-popups-to-escape-sandbox"])
    return {"Content-Security-Policy": policy, "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


def inline_images(tenant: Tenant, message: Message) -> dict[str, str]:
    """Content-ID (lower case) → data: URL of each inline raster image of the message, within the size limits.
    The type is read from the bytes, never taken from the sender's word."""
    found: dict[str, str] = {}
    budget = INLINE_TOTAL_LIMIT
    for attachment in message.attachments:
        if (not attachment.content_id or attachment.withheld_reason
                or attachment.content_type.lower() not in INLINE_TYPES
                or attachment.size > min(INLINE_IMAGE_LIMIT, budget)):
            continue
        data = attachment_data(tenant, attachment)
        kind = image_type(data or b"")
        if data is None or kind is None:
            continue
        budget -= len(data)
        found[attachment.content_id.lower()] = f"data:{kind};base64,{base64.b64encode(data).decode()}"
    return found


def image_type(data: bytes) -> str | None:
    """PNG, GIF, JPEG or WebP by their signature; anything else (SVG included) is None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def attachment_data(tenant: Tenant, attachment: MessageAttachment) -> bytes | None:
    """The stored payload, or None when there is none (withheld, or missing from the store)."""
    if attachment.withheld_reason:
        return None
    return _blob(tenant, attachment.sha256)


def raw_mail(tenant: Tenant, message: Message) -> bytes | None:
    """The original mail as received, or None for replies and notes (they were never received)."""
    return _blob(tenant, message.raw_sha256) if message.raw_sha256 else None


def _blob(tenant: Tenant, key: str) -> bytes | None:
    try:
        return store_for_region(get_region(tenant.region)).get(key)
    except (FileNotFoundError, ValueError):  # ValueError: not a blob key (an empty one, say)
        return None
