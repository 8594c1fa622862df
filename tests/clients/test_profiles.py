"""Tool profiles through the official Python SDK, over stdio and both HTTP protocol modes:
`--read-only` lists no write tool and refuses put, delete and PUT links with TOOL_DISABLED,
changing nothing; `--tools` lists exactly its tools."""

from __future__ import annotations

import pytest
from conftest import TRANSPORTS, err, ok, running_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_only_lists_no_write_tool_and_refuses_writes(transport: str) -> None:
    with running_server(transport, "--read-only") as server:
        async with server.connect() as c:
            listed = {t.name for t in (await c.list_tools()).tools}
            assert listed == {"get", "list", "search", "presign", "transfer"}, sorted(listed)
            for tool, args in [
                ("put", {"key": "notes/a.txt", "text": "x"}),
                ("delete", {"key": "notes/a.txt"}),
                ("presign", {"key": "notes/a.txt", "method": "PUT"}),
            ]:
                code, _ = await err(c, tool, args, server)
                assert code == "TOOL_DISABLED", (tool, code)
            # Reads are served; nothing was written.
            page = await ok(c, "list", {})
            assert page["objects"] == [], page
            code, _ = await err(c, "get", {"key": "notes/a.txt"}, server)
            assert code == "NOT_FOUND"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_allowlist_lists_exactly_its_tools(transport: str) -> None:
    with running_server(transport, "--tools", "put,get") as server:
        async with server.connect() as c:
            listed = {t.name for t in (await c.list_tools()).tools}
            assert listed == {"put", "get"}, sorted(listed)
            await ok(c, "put", {"key": "a.txt", "text": "kept"})
            got = await ok(c, "get", {"key": "a.txt"})
            assert got["data"] == "kept"
            code, _ = await err(c, "delete", {"key": "a.txt"}, server)
            assert code == "TOOL_DISABLED"
            assert (await ok(c, "get", {"key": "a.txt"}))["data"] == "kept"
