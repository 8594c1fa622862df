"""Confirmation of destructive calls through the official Python SDK, over stdio and both
HTTP protocol modes (2025-11-25 elicitation requests; the 2026-07-28 input_required round
trip), with the tenant's policy `confirm = ["delete", "overwrite"]`: an elicitation callback
that accepts lets the delete or overwrite happen, one that declines answers
CONFIRMATION_DECLINED and keeps the object, and a client without elicitation gets
CONFIRMATION_REQUIRED with the object still there. The person is told the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import TRANSPORTS, err, ok, running_server
from mcp import types

pytestmark = pytest.mark.anyio


def careful_config(tmp: Path) -> Path:
    path = tmp / "bitatlas.toml"
    path.write_text(
        f"""
[policies.careful]
confirm = ["delete", "overwrite"]

[stores.local]
provider = "local"
path = "{tmp / 'objects'}"
country = "DE"

[tenants.default]
store = "local"
policy = "careful"
"""
    )
    return path


def answering(action: str, asked: list[str]) -> Any:
    async def callback(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=action, content={} if action == "accept" else None)

    return callback


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_confirmation_accept_decline_and_clients_that_cannot_ask(
    transport: str, tmp_path: Path
) -> None:
    config = careful_config(tmp_path)
    with running_server(transport, "--config", str(config)) as server:
        # No elicitation: a new key needs no confirmation; replacing or deleting one does.
        async with server.connect() as c:
            await ok(c, "put", {"key": "notes/a.txt", "text": "v1"})
            code, _ = await err(c, "delete", {"key": "notes/a.txt"}, server)
            assert code == "CONFIRMATION_REQUIRED"
            code, _ = await err(c, "put", {"key": "notes/a.txt", "text": "v2"}, server)
            assert code == "CONFIRMATION_REQUIRED"
            # An upload link over it would replace it too.
            code, _ = await err(c, "transfer", {"key": "notes/a.txt", "method": "PUT"}, server)
            assert code == "CONFIRMATION_REQUIRED"
            assert (await ok(c, "get", {"key": "notes/a.txt"}))["data"] == "v1"

        asked: list[str] = []
        async with server.connect(elicitation_callback=answering("decline", asked)) as c:
            code, _ = await err(c, "delete", {"key": "notes/a.txt"}, server)
            assert code == "CONFIRMATION_DECLINED"
            assert (await ok(c, "get", {"key": "notes/a.txt"}))["data"] == "v1"
        assert asked and "notes/a.txt" in asked[0], asked

        asked.clear()
        async with server.connect(elicitation_callback=answering("accept", asked)) as c:
            await ok(c, "put", {"key": "notes/a.txt", "text": "v2"})
            assert (await ok(c, "get", {"key": "notes/a.txt"}))["data"] == "v2"
            deleted = await ok(c, "delete", {"key": "notes/a.txt"})
            assert deleted["deleted"] is True
            code, _ = await err(c, "get", {"key": "notes/a.txt"}, server)
            assert code == "NOT_FOUND"
        assert len(asked) == 2 and "Overwrite" in asked[0] and "Delete" in asked[1], asked
