"""The command line fails in one readable line with exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickertape", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_port_not_a_number(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "notanumber")
    assert_one_line_error(result, "--port")


def test_port_from_environment_is_validated_too() -> None:
    result = run_cli("serve", env={"TICKERTAPE_PORT": "99999"})
    assert_one_line_error(result, "--port")


def test_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://nobody:secret@127.0.0.1:{free_port()}/nothing"
    result = run_cli("serve", "--database-url", url)
    assert_one_line_error(result, "--database-url")
    assert "secret" not in result.stderr


def test_sqlite_file_in_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/missing/dir/t.db"
    result = run_cli("serve", "--database-url", url)
    assert_one_line_error(result, "--database-url", "does not exist")


def test_unknown_database_scheme() -> None:
    result = run_cli("migrate", "--database-url", "nosuchdb://x")
    assert_one_line_error(result, "--database-url")


def test_auth_none_refused_on_public_bind() -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--auth", "none")
    assert_one_line_error(result, "auth none")


@pytest.mark.parametrize(("flag", "value"), [("--log-format", "xml"), ("--max-batch", "0")])
def test_invalid_choices_name_the_option(flag: str, value: str) -> None:
    assert_one_line_error(run_cli("serve", flag, value), flag)


def test_migrate_reports_each_step(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    first = run_cli("migrate", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "applying 0001_initial" in first.stdout
    again = run_cli("migrate", "--database-url", url)
    assert again.returncode == 0
    assert "applying" not in again.stdout


def test_onednn_linear_kernel_refused_where_it_cannot_run(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    args = ("serve", "--database-url", url, "--linear-kernel", "onednn", "--dtype", "float16")
    assert_one_line_error(run_cli(*args), "--linear-kernel onednn", "float32 or bfloat16")
    bogus = run_cli("serve", "--database-url", url, "--linear-kernel", "mkl")
    assert_one_line_error(bogus, "--linear-kernel")


def test_onednn_refused_for_a_float16_checkpoint_under_dtype_auto(tmp_path: Path) -> None:
    """`--dtype auto` loads a float16 checkpoint as float16: refused from its config, before
    the weights (there are none here) would load."""
    from tests.engine import tiny

    config = tiny.build_config("llama")
    config.dtype = "float16"
    config.save_pretrained(tmp_path / "ckpt")
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    args = ("serve", "--database-url", url, "--model", str(tmp_path / "ckpt"))
    refused = run_cli(*args, "--linear-kernel", "onednn")
    assert_one_line_error(refused, "--linear-kernel onednn", "is float16 (--dtype auto)")
