"""Auth mode `none` is for loopback binds only, unless forced; `token` otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from tickertape.settings import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_defaults_to_none(host: str) -> None:
    assert Settings(host=host).auth_mode == "none"
    assert Settings(host=host, auth="token").auth_mode == "token"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_public_binds_default_to_token(host: str) -> None:
    assert Settings(host=host).auth_mode == "token"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1"])
def test_none_on_a_public_bind_is_refused(host: str) -> None:
    with pytest.raises(ValidationError, match="force-auth-none"):
        Settings(host=host, auth="none")
    assert Settings(host=host, auth="none", force_auth_none=True).auth_mode == "none"


def test_the_cli_refuses_it_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tickertape", "serve", "--host", "0.0.0.0", "--auth", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "force-auth-none" in result.stderr
    assert "Traceback" not in result.stderr
