"""The protocol's streaming path runs against the local engine and, through the remote
engine, against a second tickertape server acting as the upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess, running_server


@pytest.fixture(scope="module")
def remote_front(
    live_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A tickertape whose engine is `remote`, pointed at `live_server` on loopback."""
    tmp = tmp_path_factory.mktemp("front")
    with running_server(
        tmp, "--engine", "remote", "--upstream-url", live_server.base_url, "--max-batch", "4"
    ) as front:
        yield front


@pytest.fixture(params=["local", "remote"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    name = "live_server" if request.param == "local" else "remote_front"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
