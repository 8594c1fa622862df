"""The HTTP endpoint seen without an MCP client: health check and the Origin check."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from conftest import Server, running_server

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bitatlas-origin-test", "version": "0"},
    },
}


def post_mcp(server: Server, origin: str | None) -> tuple[int, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if origin is not None:
        headers["Origin"] = origin
    req = urllib.request.Request(server.mcp_url, data=json.dumps(INIT).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(65536).decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture
def http() -> Server:
    with running_server("http-legacy") as s:
        yield s


def test_healthz(http: Server) -> None:
    with urllib.request.urlopen(f"{http.base_url}/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert resp.read().decode().strip() == "ok"


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example:80", "null"],
)
def test_foreign_origin_is_refused(http: Server, origin: str) -> None:
    status, body = post_mcp(http, origin)
    assert status == 403, (origin, status, body[:300])
    assert "serverInfo" not in body


@pytest.mark.parametrize("origin", [None, "http://localhost:6274", "http://127.0.0.1:6274"])
def test_local_or_absent_origin_is_served(http: Server, origin: str | None) -> None:
    status, body = post_mcp(http, origin)
    assert status == 200, (origin, status, body[:300])
    assert "serverInfo" in body


def test_unknown_path_is_not_served(http: Server) -> None:
    try:
        with urllib.request.urlopen(f"{http.base_url}/objects", timeout=5) as resp:
            status = resp.status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 404
