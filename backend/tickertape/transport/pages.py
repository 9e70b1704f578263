"""The static front end: `/` (chat), `/admin` (transcripts), assets under `/static/`.

The files live in the package (`tickertape/web/`), so a wheel installed anywhere serves them.

There is no build step, so versioning happens at start-up: a content hash of every file in
`web/` names the release (`v` + 12 hex digits). The HTML pages are rewritten once, in
memory, so that their `/static/...` URLs become `/static/<version>/...` and each page lists
its whole ES module graph as `<link rel="modulepreload">` (the browser fetches every module
at once instead of discovering them import by import). Versioned URLs are cached for a
year (`immutable`); the pages themselves, and unversioned or stale-version URLs, are
`no-cache` (revalidated with their ETag), so a new release is picked up on the next load.
Modules import each other with relative URLs, so a versioned entry point pulls in only
versioned modules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from starlette.responses import Response as StarletteResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import tickertape

# Package data: the same place in a source checkout and in an installed wheel.
FRONTEND_DIR = Path(tickertape.__file__).resolve().parent / "web"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PAGES = {"/": "index.html", "/admin": "admin.html"}

_VERSION_SEGMENT = re.compile(r"^v[0-9a-f]{12}$")
# Static imports only (`import x from '...'`, `export ... from '...'`, `import '...'`);
# dynamic import() is left to load on demand.
_IMPORT = re.compile(
    r"""^\s*(?:import\s*|(?:import|export)\b[^'"`;]*?\bfrom\s*)['"]([^'"]+\.m?js)['"]""",
    re.MULTILINE,
)
_STATIC_URL = re.compile(r"""(\b(?:src|href)=")/static/""")
_ENTRY_SCRIPT = re.compile(r"""<script type="module" src="(/static/[^"]+)"></script>""")


def frontend_version(directory: Path = FRONTEND_DIR) -> str:
    """`v` + the first 12 hex digits of a sha256 over every file's path and content."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return "v" + digest.hexdigest()[:12]


def module_graph(entry: str, directory: Path = FRONTEND_DIR) -> list[str]:
    """Every module `entry` (a `/static/...` URL) imports statically, transitively, as
    `/static/...` URLs, in discovery order (the entry itself excluded)."""
    seen: list[str] = []
    pending = [entry]
    while pending:
        url = pending.pop(0)
        source = directory / url.removeprefix("/static/")
        if not source.is_file() or url.startswith("/static/vendor/"):
            continue  # vendored files are leaves: minified code is not ours to parse
        for spec in _IMPORT.findall(source.read_text(encoding="utf-8")):
            if spec.startswith("/"):
                target = spec
            elif spec.startswith("."):
                target = _normalise(PurePosixPath(url).parent / spec)
            else:
                continue  # a bare specifier: not ours to preload
            if target != entry and target not in seen:
                seen.append(target)
                pending.append(target)
    return seen


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts).replace("//", "/")


def render_page(html: str, version: str, directory: Path = FRONTEND_DIR) -> str:
    """The page with versioned asset URLs and modulepreload links for its entry module."""
    entry = _ENTRY_SCRIPT.search(html)
    if entry:
        links = "".join(
            f'\n  <link rel="modulepreload" href="{url}">'
            for url in module_graph(entry.group(1), directory)
        )
        html = html[: entry.start()] + links.lstrip("\n ") + "\n  " + html[entry.start() :]
    return _STATIC_URL.sub(rf"\g<1>/static/{version}/", html)


class VersionedStaticFiles(StaticFiles):
    """`/static/<version>/path` and `/static/path` serve the same file; only the current
    version's URL may be cached for good."""

    def __init__(self, *, directory: Path, version: str) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> StarletteResponse:
        first, _, rest = path.partition("/")
        versioned = bool(_VERSION_SEGMENT.match(first)) and bool(rest)
        response = await super().get_response(rest if versioned else path, scope)
        if response.status_code in (200, 304):
            current = versioned and first == self.version
            response.headers["cache-control"] = IMMUTABLE if current else REVALIDATE
        return response


def _page_routes(pages: Iterable[tuple[str, str]]) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for route, html in pages:
        router.add_api_route(route, _page_endpoint(html), methods=["GET"])
    return router


def _page_endpoint(html: str) -> Callable[[], Awaitable[Response]]:
    async def page() -> Response:
        return Response(html, media_type="text/html", headers={"cache-control": REVALIDATE})

    return page


def mount_frontend(app: FastAPI, directory: Path = FRONTEND_DIR) -> None:
    version = frontend_version(directory) if directory.is_dir() else "v000000000000"
    rendered = [
        (route, render_page((directory / name).read_text(encoding="utf-8"), version, directory))
        for route, name in PAGES.items()
        if (directory / name).is_file()
    ]
    app.state.frontend_version = version
    app.include_router(_page_routes(rendered))
    app.mount("/static", VersionedStaticFiles(directory=directory, version=version), name="static")
