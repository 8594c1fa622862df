"""The six storage tools through the official Python SDK, over stdio and both HTTP protocol modes."""

from __future__ import annotations

import base64
import json
import os

import pytest
from conftest import Server, err, ok

pytestmark = pytest.mark.anyio

TOOLS = {"put", "get", "delete", "list", "search", "presign", "transfer", "locate"}
MiB = 1024 * 1024


async def test_negotiated_protocol(server: Server) -> None:
    async with server.connect() as c:
        expected = "2025-11-25" if server.transport == "http-legacy" else "2026-07-28"
        assert c.protocol_version == expected


async def test_tools_list_schemas_and_annotations(server: Server) -> None:
    async with server.connect() as c:
        listed = await c.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS, sorted(tools)
    for name, t in tools.items():
        assert t.input_schema and t.input_schema.get("type") == "object", name
        assert t.output_schema and t.output_schema.get("type") == "object", name
        assert t.description, name
        assert t.annotations is not None, name
    a = {n: t.annotations for n, t in tools.items()}
    for name in ("get", "list", "search"):
        assert a[name].read_only_hint is True, name
    assert a["put"].read_only_hint is False
    assert a["delete"].read_only_hint is False
    assert a["delete"].destructive_hint is True
    assert a["delete"].idempotent_hint is True
    assert tools["put"].input_schema["required"] == ["key"]
    assert set(tools["put"].input_schema["properties"]) >= {"key", "text", "base64", "content_type", "metadata"}


async def test_text_round_trip(server: Server) -> None:
    text = "Grüße aus Zürich — 東京 🚀 \u2028 end\n"
    meta = {"owner": "ops", "label": "ünïcode ✓ 東京"}
    async with server.connect() as c:
        put = await ok(c, "put", {"key": "notes/ü/hello.txt", "text": text, "content_type": "text/markdown", "metadata": meta})
        assert put["key"] == "notes/ü/hello.txt"
        assert put["size"] == len(text.encode())
        stored = put["stored"]
        assert set(stored) >= {"store", "provider", "region", "country", "attested"}
        result = await c.call_tool("get", {"key": "notes/ü/hello.txt"})
        assert not result.is_error
        got = result.structured_content
        assert got["encoding"] == "utf8"
        assert got["data"] == text
        assert got["size"] == len(text.encode())
        assert got["content_type"].startswith("text/markdown")
        assert got["metadata"] == meta
        # For utf8 objects the text block is the text itself, not JSON.
        assert result.content[0].text == text


async def test_binary_round_trip_and_ranges(server: Server) -> None:
    payload = b"\x00\x00" + os.urandom(4093) + b"\x00\xff\x00"
    b64 = base64.b64encode(payload).decode()
    async with server.connect() as c:
        put = await ok(c, "put", {"key": "bin/blob.dat", "base64": b64, "content_type": "application/x-test", "metadata": {"k": "v"}})
        assert put["size"] == len(payload)
        got = await ok(c, "get", {"key": "bin/blob.dat"})
        assert got["encoding"] == "base64"
        assert base64.b64decode(got["data"]) == payload
        assert got["content_type"] == "application/x-test"
        assert got["metadata"] == {"k": "v"}
        assert got["size"] == len(payload)
        for start, end in [(0, 1), (1, 3), (100, 2000), (4000, len(payload))]:
            part = await ok(c, "get", {"key": "bin/blob.dat", "range": {"start": start, "end": end}})
            assert base64.b64decode(part["data"]) == payload[start:end], (start, end)
            assert part["range"]["start"] == start
            assert part["size"] == len(payload)
        tail = await ok(c, "get", {"key": "bin/blob.dat", "range": {"start": 4090}})
        assert base64.b64decode(tail["data"]) == payload[4090:]
        text_put = await ok(c, "put", {"key": "t.txt", "text": "abcdefghij"})
        assert text_put["size"] == 10
        mid = await ok(c, "get", {"key": "t.txt", "range": {"start": 2, "end": 5}})
        assert mid["data"] == "cde"
        code, _ = await err(c, "get", {"key": "t.txt", "range": {"start": 11}}, server)
        assert code == "INVALID_RANGE"


async def test_overwrite_replaces(server: Server) -> None:
    async with server.connect() as c:
        await ok(c, "put", {"key": "x", "text": "one", "metadata": {"v": "1"}})
        await ok(c, "put", {"key": "x", "text": "two!"})
        got = await ok(c, "get", {"key": "x"})
        assert got["data"] == "two!"
        assert got["metadata"] == {}


async def _collect(c, tool: str, args: dict, field: str) -> tuple[list[dict], int]:
    items: list[dict] = []
    pages = 0
    cursor = None
    while True:
        page_args = dict(args)
        if cursor is not None:
            page_args["cursor"] = cursor
        page = await ok(c, tool, page_args)
        pages += 1
        assert len(page[field]) <= args.get("limit", 100)
        items.extend(page[field])
        cursor = page.get("next_cursor")
        if not cursor:
            return items, pages
        assert pages < 100, "cursor never ends"


async def test_list_pagination(server: Server) -> None:
    keys = [f"page/k{i:02d}" for i in range(25)]
    async with server.connect() as c:
        for k in keys:
            await ok(c, "put", {"key": k, "text": k})
        await ok(c, "put", {"key": "pagezz/outside", "text": "no"})
        items, pages = await _collect(c, "list", {"prefix": "page", "limit": 10}, "objects")
        assert pages == 3
        got = [o["key"] for o in items]
        assert sorted(got) == keys and len(got) == len(set(got)) == 25
        for o in items:
            assert o["size"] == len(o["key"]) and o["last_modified"]
        whole = await ok(c, "list", {"prefix": "page"})
        assert len(whole["objects"]) == 25 and not whole.get("next_cursor")


async def test_list_folder_semantics_and_delimiter(server: Server) -> None:
    async with server.connect() as c:
        for k in ["a/x", "a/y/z", "a-evil/x", "ab/x", "d/1.txt", "d/sub/2.txt", "d/sub/deeper/3.txt", "d/sub2/4.txt"]:
            await ok(c, "put", {"key": k, "text": "."})
        for prefix in ("a", "a/"):
            listed = await ok(c, "list", {"prefix": prefix})
            assert sorted(o["key"] for o in listed["objects"]) == ["a/x", "a/y/z"], prefix
        listed = await ok(c, "list", {"prefix": "d", "delimiter": True})
        assert [o["key"] for o in listed["objects"]] == ["d/1.txt"]
        assert sorted(p.rstrip("/") for p in listed["prefixes"]) == ["d/sub", "d/sub2"]
        top = await ok(c, "list", {"delimiter": True})
        assert top["objects"] == []
        assert sorted(p.rstrip("/") for p in top["prefixes"]) == ["a", "a-evil", "ab", "d"]
        everything = await ok(c, "list", {})
        assert len(everything["objects"]) == 8


async def test_search(server: Server) -> None:
    docs = {
        "docs/readme.md": {"team": "blue"},
        "docs/guide/intro.md": {"team": "blue", "lang": "en"},
        "docs/guide/deep/more.md": {"team": "red"},
        "docs/notes.txt": {"team": "blue"},
        "other/readme.md": {"team": "blue"},
    }
    async with server.connect() as c:
        for k, meta in docs.items():
            ctype = "text/markdown" if k.endswith(".md") else "text/plain"
            await ok(c, "put", {"key": k, "text": k, "metadata": meta, "content_type": ctype})
        found = await ok(c, "search", {"pattern": "docs/**/*.md"})
        assert sorted(m["key"] for m in found["matches"]) == ["docs/guide/deep/more.md", "docs/guide/intro.md", "docs/readme.md"]
        for m in found["matches"]:
            assert m["metadata"] == docs[m["key"]]
            assert m["content_type"].startswith("text/markdown")
            assert m["size"] == len(m["key"])
        blue = await ok(c, "search", {"metadata": {"team": "blue"}})
        assert sorted(m["key"] for m in blue["matches"]) == ["docs/guide/intro.md", "docs/notes.txt", "docs/readme.md", "other/readme.md"]
        both = await ok(c, "search", {"metadata": {"team": "blue", "lang": "en"}})
        assert [m["key"] for m in both["matches"]] == ["docs/guide/intro.md"]
        scoped = await ok(c, "search", {"prefix": "docs", "metadata": {"team": "blue"}, "content_type": "text/plain"})
        assert [m["key"] for m in scoped["matches"]] == ["docs/notes.txt"]
        none = await ok(c, "search", {"metadata": {"team": "green"}})
        assert none["matches"] == []
        paged, pages = await _collect(c, "search", {"metadata": {"team": "blue"}, "limit": 1}, "matches")
        assert pages >= 4
        assert sorted(m["key"] for m in paged) == sorted(m["key"] for m in blue["matches"])


async def test_delete_is_idempotent(server: Server) -> None:
    async with server.connect() as c:
        await ok(c, "put", {"key": "gone/soon", "text": "bye"})
        first = await ok(c, "delete", {"key": "gone/soon"})
        assert first == {"key": "gone/soon", "deleted": True}
        second = await ok(c, "delete", {"key": "gone/soon"})
        assert second == {"key": "gone/soon", "deleted": False}
        code, _ = await err(c, "get", {"key": "gone/soon"}, server)
        assert code == "NOT_FOUND"
        listed = await ok(c, "list", {"prefix": "gone"})
        assert listed["objects"] == []


BAD_KEYS = {
    "dotdot": "../x",
    "leading-slash": "/a",
    "double-slash": "a//b",
    "nul": "a\u0000b",
    "too-long": "k" * 1025,
    "empty": "",
}


async def test_typed_errors(server: Server) -> None:
    async with server.connect() as c:
        for label, key in BAD_KEYS.items():
            for tool, args in [("put", {"key": key, "text": "x"}), ("get", {"key": key}), ("delete", {"key": key})]:
                code, _ = await err(c, tool, args, server)
                assert code == "INVALID_KEY", (label, tool, code)
        # The longest allowed key works (1024 bytes, in folders).
        longest = "/".join(["k" * 99] * 10) + "/" + "z" * 24
        assert len(longest.encode()) == 1024
        await ok(c, "put", {"key": longest, "text": "edge"})
        assert (await ok(c, "get", {"key": longest}))["data"] == "edge"

        code, _ = await err(c, "get", {"key": "missing/object"}, server)
        assert code == "NOT_FOUND"
        code, _ = await err(c, "put", {"key": "x", "text": "a", "base64": "YQ=="}, server)
        assert code == "INVALID_ARGUMENT"
        code, _ = await err(c, "put", {"key": "x", "base64": "not base64!!"}, server)
        assert code == "INVALID_ARGUMENT"
        code, _ = await err(c, "presign", {"key": "x", "method": "GET"}, server)
        assert code == "UNSUPPORTED"
        code, _ = await err(c, "presign", {"key": "x", "method": "PUT"}, server)
        assert code in ("UNSUPPORTED", "POLICY_PRESIGN_PUT_DISABLED")
        # Nothing was half-written by the failed calls.
        listed = await ok(c, "list", {})
        assert [o["key"] for o in listed["objects"]] == [longest]


async def test_inline_size_cap(server: Server) -> None:
    cap = 8 * MiB
    async with server.connect(read_timeout=120) as c:
        code, _ = await err(c, "put", {"key": "big/text", "text": "a" * (cap + 1)}, server)
        assert code == "TOO_LARGE"
        code, _ = await err(c, "put", {"key": "big/b64", "base64": base64.b64encode(b"\x00" * (cap + 1)).decode()}, server)
        assert code == "TOO_LARGE"
        put = await ok(c, "put", {"key": "big/exact", "text": "b" * cap})
        assert put["size"] == cap
        listed = await ok(c, "list", {"prefix": "big"})
        assert [o["key"] for o in listed["objects"]] == ["big/exact"]
        part = await ok(c, "get", {"key": "big/exact", "range": {"start": cap - 3}})
        assert part["data"] == "bbb"
        # The whole object at the limit reads back over every transport, its payload once:
        # in structuredContent, with a one-line text block pointing at it.
        result = await c.call_tool("get", {"key": "big/exact"})
        assert not result.is_error
        assert result.structured_content["data"] == "b" * cap
        texts = [b for b in result.content if b.type == "text"]
        assert len(texts) == 1 and len(texts[0].text) < 200
        # Besides it, only the object's resource link.
        links = [b for b in result.content if b.type == "resource_link"]
        assert len(result.content) == 2 and str(links[0].uri) == "bitatlas://big/exact"
        # Text full of control characters is sent as base64, not escaped six-fold.
        await ok(c, "put", {"key": "big/ctl", "text": "\x01" * (cap // 8)})
        ctl = await ok(c, "get", {"key": "big/ctl"})
        assert ctl["encoding"] == "base64" and "control" in ctl["note"]
        assert base64.b64decode(ctl["data"]) == b"\x01" * (cap // 8)


async def test_argument_errors_are_typed_and_audited(server: Server) -> None:
    async with server.connect() as c:
        code, text = await err(c, "put", {"key": "a.txt", "filename": "/etc/passwd"}, server)
        assert code == "INVALID_ARGUMENT" and "filename" in text
        code, text = await err(c, "list", {"limit": "my secret"}, server)
        assert code == "INVALID_ARGUMENT" and "secret" not in text
        code, _ = await err(c, "get", {}, server)
        assert code == "INVALID_ARGUMENT"
        await ok(c, "put", {"key": "r.txt", "text": "0123456789"})
        code, text = await err(c, "get", {"key": "r.txt", "range": {"start": 10, "end": 2}}, server)
        assert code == "INVALID_RANGE" and "before its start" in text
        code, text = await err(c, "get", {"key": "no/such.txt"}, server)
        assert code == "NOT_FOUND" and "no/such.txt" in text and "list" in text
    audit = (server.data_dir / "audit" / "audit.jsonl").read_text()
    codes = [json.loads(line).get("code") for line in audit.splitlines()]
    assert codes.count("INVALID_ARGUMENT") == 3, codes
    assert "my secret" not in audit


async def test_search_speaks_media_types_and_dates(server: Server) -> None:
    async with server.connect() as c:
        await ok(c, "put", {"key": "s/a.txt", "text": "a"})
        await ok(c, "put", {"key": "s/b.json", "text": "{}", "content_type": "application/json"})
        hits = await ok(c, "search", {"content_type": "text/plain"})
        assert [m["key"] for m in hits["matches"]] == ["s/a.txt"]
        hits = await ok(c, "search", {"content_type": "TEXT/PLAIN; charset=UTF-8"})
        assert [m["key"] for m in hits["matches"]] == ["s/a.txt"]
        hits = await ok(c, "search", {"modified_after": "2020-01-01", "prefix": "s"})
        assert len(hits["matches"]) == 2
        hits = await ok(c, "search", {"modified_before": "2020-01-01"})
        assert hits["matches"] == []
        code, _ = await err(c, "search", {"modified_after": "last week"}, server)
        assert code == "INVALID_ARGUMENT"
        # A text range that cuts a character comes back as base64 and says so.
        await ok(c, "put", {"key": "s/u.txt", "text": "aé€b"})
        part = await ok(c, "get", {"key": "s/u.txt", "range": {"start": 0, "end": 2}})
        assert part["encoding"] == "base64" and "splits" in part["note"]
        assert base64.b64decode(part["data"]) == "aé€b".encode()[:2]


async def test_images_come_back_as_image_blocks(server: Server) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    async with server.connect() as c:
        await ok(c, "put", {"key": "img/dot.png", "base64": base64.b64encode(png).decode(), "content_type": "image/png"})
        result = await c.call_tool("get", {"key": "img/dot.png"})
        assert not result.is_error
        block = result.content[0]
        assert block.type == "image" and block.mime_type == "image/png"
        assert base64.b64decode(block.data) == png
        # The payload travels once: not again in structuredContent.
        assert "data" not in result.structured_content
        assert result.structured_content["size"] == len(png)
