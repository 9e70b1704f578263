"""The wheel is the product: built from the checkout and installed (not editable) into a fresh
venv, `tickertape serve` run from an unrelated directory serves the page and migrates.

The fresh venv gets only the wheel (`--no-deps`). Its dependencies (torch, transformers, ...)
come from the project's venv through a `.pth` file: reinstalling them would take minutes and
test pip, not us. A `.pth` line only appends a directory to sys.path, so the venv's own
site-packages (holding the wheel) still comes first, and the project venv's editable-install
hook (itself a `.pth` file there) is not processed: nothing can reach the source checkout.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 180
TABLES = {"alembic_version", "users", "api_tokens", "conversations", "messages"}


def _clean_env() -> dict[str, str]:
    """This environment without anything that could point an interpreter at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | {"PYTHONUNBUFFERED": "1"}


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, REPO)
    (built,) = dist.glob("tickertape-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the installed wheel; returns its bin directory."""
    root = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", root)
    python = root / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    site_packages = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    (site_packages / "tickertape_test_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    return root / "bin"


@pytest.fixture(scope="module")
def installed_server(
    venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`tickertape serve` of the fresh venv, run in an empty directory with every default but
    the port, so its database is ./tickertape.db there (`server.cwd`)."""
    port = free_port()
    server = ServerProcess(
        args=["--port", str(port)],
        env=_clean_env(),
        port=port,
        command=[str(venv / "tickertape")],
        cwd=tmp_path_factory.mktemp("elsewhere"),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_wheel_holds_the_front_end_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "tickertape/web/index.html",
        "tickertape/web/admin.html",
        "tickertape/web/js/chat.js",
        "tickertape/web/vendor/marked/marked.esm.js",
        "tickertape/store/alembic/env.py",
        "tickertape/store/alembic/script.py.mako",
        "tickertape/store/alembic/versions/0001_initial.py",
    } <= names


def test_the_venv_imports_the_installed_copy(venv: Path) -> None:
    location = _run(venv / "python", "-c", "import tickertape; print(tickertape.__file__)")
    assert Path(location.strip()).is_relative_to(venv.parent), location
    assert not Path(location.strip()).is_relative_to(REPO), location


def test_serve_from_elsewhere_serves_the_page(installed_server: ServerProcess) -> None:
    with installed_server.http() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert '<script type="module"' in page.text
        assert http.get("/admin").status_code == 200
        script = http.get("/static/js/chat.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]


def test_serve_from_elsewhere_migrates_its_database(installed_server: ServerProcess) -> None:
    assert "applying 0001_initial" in installed_server.log
    with installed_server.http() as http:
        assert http.get("/readyz").status_code == 200  # 503 unless the schema is at head
    assert installed_server.cwd is not None
    database = installed_server.cwd / "tickertape.db"
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert {name for (name,) in rows} >= TABLES
