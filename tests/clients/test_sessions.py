"""Legacy (2025-11-25) sessions through the official Python SDK: a tenant holds at most
``[http] max_sessions_per_tenant`` sessions (a new one beyond that closes the least recently
used idle one) and a session idle for ``[http] session_idle_secs`` expires."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Server, ok, running_server
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.anyio

CAP = 3


@contextlib.contextmanager
def legacy_server(http: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="bitatlas-sessions-") as tmp:
        config = Path(tmp) / "bitatlas.toml"
        config.write_text(f"[http]\n{http}\n")
        with running_server("http-legacy", "--config", str(config)) as server:
            yield server


async def expect_terminated(client: object) -> None:
    with pytest.raises(MCPError, match="Session terminated"):
        await client.call_tool("list", {})  # type: ignore[attr-defined]


def post(server: Server, message: dict, session_id: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session_id is not None:
        headers["Mcp-Session-Id"] = session_id
    req = urllib.request.Request(server.mcp_url, data=json.dumps(message).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw_session(server: Server) -> str:
    """A session opened by hand (initialize, initialized): its id."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }
    status, headers, body = post(server, init)
    assert status == 200, (status, body[:300])
    session_id = {k.lower(): v for k, v in headers.items()}["mcp-session-id"]
    status, _, body = post(server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id)
    assert status in (200, 202), (status, body[:300])
    return session_id


async def test_a_session_beyond_the_cap_closes_the_least_recently_used() -> None:
    with legacy_server(f"max_sessions_per_tenant = {CAP}") as server:
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for i in range(CAP):
                c = await stack.enter_async_context(server.connect())
                await ok(c, "put", {"key": f"s{i}.txt", "text": str(i)})
                clients.append(c)
            # The first session is used again: the second is now the least recently used.
            await ok(clients[0], "list", {})
            extra = await stack.enter_async_context(server.connect())
            assert extra.protocol_version == "2025-11-25"
            listed = await ok(extra, "list", {})
            assert len(listed["objects"]) == CAP
            await expect_terminated(clients[1])
            for c in (clients[0], clients[2], extra):
                await ok(c, "list", {})
            # A new client after the closed one is served again.
            again = await stack.enter_async_context(server.connect())
            await ok(again, "list", {})
            await expect_terminated(clients[0])


async def test_an_idle_session_expires_and_answers_404() -> None:
    idle = 2
    with legacy_server(f"request_timeout_secs = {idle}\nsession_idle_secs = {idle}") as server:
        raw = raw_session(server)
        status, _, body = post(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, raw)
        assert status == 200, (status, body[:300])
        async with contextlib.AsyncExitStack() as stack:
            idle_client = await stack.enter_async_context(server.connect())
            await ok(idle_client, "put", {"key": "a.txt", "text": "a"})
            busy = await stack.enter_async_context(server.connect())
            # One session keeps being used for longer than the idle time and stays alive; the
            # two left alone expire.
            deadline = time.monotonic() + 3 * idle
            while time.monotonic() < deadline:
                await ok(busy, "list", {})
                await asyncio.sleep(idle / 4)
            await expect_terminated(idle_client)
            await ok(busy, "list", {})
        status, _, body = post(server, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, raw)
        assert status == 404, (status, body[:300])
        assert json.loads(body)["code"] == "NOT_FOUND", body[:300]
        # After expiry, new sessions are served as usual.
        async with server.connect() as fresh:
            listed = await ok(fresh, "list", {})
            assert [o["key"] for o in listed["objects"]] == ["a.txt"]


async def test_closing_a_legacy_session_is_a_clean_termination(caplog: pytest.LogCaptureFixture) -> None:
    """The SDK closes its session with DELETE when the client exits; BitAtlas answers 204, so
    the SDK logs no "Session termination failed"."""
    with running_server("http-legacy") as server:
        with caplog.at_level("WARNING"):
            async with server.connect() as c:
                await ok(c, "list", {})
    failed = [r.getMessage() for r in caplog.records if "termination failed" in r.getMessage()]
    assert not failed, failed
