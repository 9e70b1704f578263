"""Static front-end serving (transport/pages.py): versioned URLs cached for good, pages and
unversioned URLs revalidated, the module graph preloaded, the CSP unchanged."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tickertape.transport.pages import (
    FRONTEND_DIR,
    IMMUTABLE,
    REVALIDATE,
    frontend_version,
    module_graph,
    mount_frontend,
)


def _client(directory: Path = FRONTEND_DIR) -> TestClient:
    app = FastAPI()
    mount_frontend(app, directory)
    return TestClient(app)


def _js_files(directory: Path) -> set[str]:
    return {
        "/static/" + p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.suffix in {".js", ".mjs"}
    }


def test_pages_use_versioned_urls_and_preload_their_whole_module_graph() -> None:
    client = _client()
    version = frontend_version()
    for route, entry in (("/", "js/chat.js"), ("/admin", "js/admin.js")):
        page = client.get(route)
        assert page.status_code == 200
        assert page.headers["cache-control"] == REVALIDATE
        html = page.text
        # Every asset URL in the page carries the version.
        urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert urls
        assert all(u.startswith(f"/static/{version}/") for u in urls), urls
        assert f'<script type="module" src="/static/{version}/{entry}"></script>' in html
        preloads = re.findall(r'<link rel="modulepreload" href="([^"]+)">', html)
        expected = [
            u.replace("/static/", f"/static/{version}/", 1)
            for u in module_graph(f"/static/{entry}")
        ]
        assert preloads == expected
        # The graph is complete: markdown.js and its vendored dependencies are in it.
        assert any(p.endswith("/vendor/dompurify/purify.es.mjs") for p in preloads)
        assert html.index("modulepreload") < html.index('<script type="module"')


def test_the_module_graph_follows_every_static_import() -> None:
    graph = set(module_graph("/static/js/chat.js"))
    # Each module the entry reaches is a real file, and no import is missed: every
    # module that some module of the graph imports is in the graph.
    for url in graph:
        assert (FRONTEND_DIR / url.removeprefix("/static/")).is_file(), url
    assert graph <= _js_files(FRONTEND_DIR)
    assert "/static/js/session.js" in graph


def test_versioned_assets_are_immutable_and_others_revalidate() -> None:
    client = _client()
    version = frontend_version()
    current = client.get(f"/static/{version}/js/chat.js")
    assert current.status_code == 200
    assert "javascript" in current.headers["content-type"]
    assert current.headers["cache-control"] == IMMUTABLE
    plain = client.get("/static/js/chat.js")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == REVALIDATE
    assert plain.content == current.content
    # An old release's URL still answers (a page loaded before a restart), but with the
    # current file, so it must not be cached for good.
    stale = client.get("/static/v000000000000/js/chat.js")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == REVALIDATE
    assert client.get(f"/static/{version}/js/nope.js").status_code == 404


def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("export const a = 1;\n")
    first = frontend_version(tmp_path)
    (tmp_path / "js" / "a.js").write_text("export const a = 2;\n")
    assert frontend_version(tmp_path) != first
    assert re.fullmatch(r"v[0-9a-f]{12}", first)


def test_the_graph_ignores_non_imports(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "main.js").write_text(
        "import { b } from './b.js';\n"
        "import './side.js';\n"
        "export { c } from '../lib/c.mjs';\n"
        "export function url(path = '/ws') { return path; }\n"
        "const later = () => import('./lazy.js');\n"
    )
    for name in ("js/b.js", "js/side.js", "lib/c.mjs", "js/lazy.js"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    assert module_graph("/static/js/main.js", tmp_path) == [
        "/static/js/b.js",
        "/static/js/side.js",
        "/static/lib/c.mjs",
    ]
