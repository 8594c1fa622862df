"""Objects as resources through the official Python SDK, over stdio and both HTTP protocol
modes: `resources/list` shows the caller's objects as bitatlas:// URIs, `resources/read` of an
object equals `get` (text and binary), the template names the scheme, and a missing object is
a JSON-RPC error, not an empty read."""

from __future__ import annotations

import base64

import pytest
from conftest import Server, ok
from mcp import MCPError

pytestmark = pytest.mark.anyio


async def test_resources_list_read_and_template(server: Server) -> None:
    binary = bytes(range(256)) * 3
    async with server.connect() as c:
        await ok(c, "put", {"key": "notes/a b.txt", "text": "héllo"})
        await ok(c, "put", {"key": "bin/x.dat", "base64": base64.b64encode(binary).decode()})
        listed = {r.name: r for r in (await c.list_resources()).resources}
        assert set(listed) == {"notes/a b.txt", "bin/x.dat"}, sorted(listed)
        assert str(listed["notes/a b.txt"].uri) == "bitatlas://notes/a%20b.txt"
        assert listed["bin/x.dat"].size == len(binary)

        text = (await c.read_resource("bitatlas://notes/a%20b.txt")).contents[0]
        got = await ok(c, "get", {"key": "notes/a b.txt"})
        assert text.text == got["data"] == "héllo"
        blob = (await c.read_resource("bitatlas://bin/x.dat")).contents[0]
        assert base64.b64decode(blob.blob) == binary

        templates = (await c.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["bitatlas://{key}"]

        with pytest.raises(MCPError) as missing:
            await c.read_resource("bitatlas://notes/none.txt")
        assert "NOT_FOUND" in str(missing.value)
        with pytest.raises(MCPError) as foreign:
            await c.read_resource("file:///etc/passwd")
        assert "INVALID_ARGUMENT" in str(foreign.value)


async def test_put_get_and_list_results_link_their_objects(server: Server) -> None:
    async with server.connect() as c:
        for tool, args in [
            ("put", {"key": "docs/r.md", "text": "# r", "content_type": "text/markdown"}),
            ("get", {"key": "docs/r.md"}),
            ("list", {"prefix": "docs"}),
        ]:
            result = await c.call_tool(tool, args)
            assert not result.is_error, tool
            links = [b for b in result.content if b.type == "resource_link"]
            assert [str(link.uri) for link in links] == ["bitatlas://docs/r.md"], (tool, result.content)
            assert links[0].name == "docs/r.md"
        read = (await c.read_resource(str(links[0].uri))).contents[0]
        assert read.text == "# r"
