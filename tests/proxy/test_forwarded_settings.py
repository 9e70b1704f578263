"""`--forwarded-allow-ips`: which peers' X-Forwarded-Proto/-For are believed.

Uvicorn takes any entry it cannot parse as an IP for a literal name that no TCP peer ever
has, and honours `*` only alone, so a typo would silently trust nobody, or not everybody.
The setting refuses those at start instead.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tickertape.settings import Settings


def test_the_default_is_loopback() -> None:
    assert Settings().forwarded_allow_ips == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("10.0.0.5", ["10.0.0.5"]),
        (" 10.0.0.0/24 , ::1 ", ["10.0.0.0/24", "::1"]),
        ("fd00::/8", ["fd00::/8"]),
        ("*", ["*"]),
    ],
)
def test_addresses_and_networks_are_accepted(value: str, expected: list[str]) -> None:
    assert Settings(forwarded_allow_ips=value).forwarded_allow_ips == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("proxy.internal", "not an IP address or network"),
        ("10.0.0.1/24", "has host bits set"),
        ("*,10.0.0.5", "cannot be combined"),
    ],
)
def test_mistakes_stop_the_start(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(forwarded_allow_ips=value)


def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKERTAPE_FORWARDED_ALLOW_IPS", "192.0.2.7,192.0.2.8")
    assert Settings().forwarded_allow_ips == ["192.0.2.7", "192.0.2.8"]
