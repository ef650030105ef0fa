"""The web pages: ``/desktop/`` (agent desktop), ``/wallboard/`` (supervisor) and ``/static/``.

The files are package data (:data:`cti_server.web.STATIC_DIR`), fixed while the server runs,
so they are read once when the resources are built and a request never touches the disk.
Every response is ``Cache-Control: no-cache`` with a strong ETag: there is no build step that
would put a hash in the file names, so a browser revalidates each time (a 304 on a LAN is
cheap) and never mixes an old module with a new one after an upgrade.

Mount :func:`pages_resources` on the site root (not under ``/api/v1``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twisted.web.resource import Resource
from twisted.web.server import Request

from cti_server.api.json_io import error
from cti_server.web import STATIC_DIR

CONTENT_TYPES: Final = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".json": b"application/json; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".woff2": b"font/woff2",
    ".wav": b"audio/wav",
    ".txt": b"text/plain; charset=utf-8",
}
PAGES: Final = {
    b"desktop": "desktop.html",
    b"wallboard": "wallboard.html",
    b"review": "review.html",
}
HOME: Final = b"/desktop/"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: bytes
    etag: bytes


def load_tree(root: Path) -> dict[str, StaticFile]:
    """Every servable file under ``root`` by its ``/``-joined relative path (dot files and
    unknown types are left out, so an editor's swap file is never served)."""
    files: dict[str, StaticFile] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            continue
        body = path.read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        files[rel.as_posix()] = StaticFile(body, content_type, etag)
    return files


def content_security_policy(host: bytes | None) -> bytes:
    """Same-origin everything; the WebSocket origin is spelled out because older Chromium
    builds do not let ``'self'`` cover ``ws:``."""
    sockets = ""
    name = (host or b"").decode("ascii", "replace")
    if _HOST.match(name):
        sockets = f" ws://{name} wss://{name}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self'{sockets}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


def send_file(request: Request, file: StaticFile) -> bytes:
    request.setHeader(b"Content-Type", file.content_type)
    request.setHeader(b"Cache-Control", b"no-cache")
    request.setHeader(b"ETag", file.etag)
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Referrer-Policy", b"no-referrer")
    if file.content_type.startswith(b"text/html"):
        policy = content_security_policy(request.getHeader(b"host"))
        request.setHeader(b"Content-Security-Policy", policy)
        request.setHeader(b"X-Frame-Options", b"DENY")
    match = request.getHeader(b"if-none-match")
    if match is not None and file.etag in {tag.strip() for tag in match.split(b",")}:
        request.setResponseCode(304)
        return b""
    return file.body


def _redirect(request: Request, location: bytes) -> bytes:
    request.setResponseCode(302)
    request.setHeader(b"Location", location)
    request.setHeader(b"Cache-Control", b"no-cache")
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return b"see " + location + b"\n"


class StaticFiles(Resource):
    """``/static/<path>``: the shared CSS and JS modules (and the page HTML, harmlessly)."""

    isLeaf = True

    def __init__(self, files: dict[str, StaticFile]) -> None:
        super().__init__()
        self._files = files

    def render_GET(self, request: Request) -> bytes:
        parts = [p.decode("utf-8", "replace") for p in request.postpath]
        file = self._files.get("/".join(parts)) if all(parts) else None
        if file is None:
            return error(request, 404, "not_found", f"no file at {request.path.decode()!r}")
        return send_file(request, file)


class Page(Resource):
    """One page: ``/desktop/`` serves it, ``/desktop`` redirects there (so relative links
    and the browser's idea of the directory agree), anything deeper is a 404."""

    isLeaf = True

    def __init__(self, file: StaticFile) -> None:
        super().__init__()
        self._file = file

    def render_GET(self, request: Request) -> bytes:
        if request.postpath == []:
            query = request.uri.partition(b"?")[2]
            return _redirect(request, request.path + b"/" + (b"?" + query if query else b""))
        if request.postpath != [b""]:
            return error(request, 404, "not_found", f"no page at {request.path.decode()!r}")
        return send_file(request, self._file)


class HomeRedirect(Resource):
    """``/``: the agent desktop is what most people open."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return _redirect(request, HOME)


def pages_resources(static_dir: Path = STATIC_DIR) -> dict[bytes, Resource]:
    """Children for the site root: ``desktop``, ``wallboard``, ``static`` and ``b""`` (``/``)."""
    files = load_tree(static_dir)
    resources: dict[bytes, Resource] = {name: Page(files[html]) for name, html in PAGES.items()}
    resources[b"static"] = StaticFiles(files)
    resources[b""] = HomeRedirect()
    return resources
