"""Prompts, completions and logging through the official Python SDK, over stdio and both HTTP
protocol modes: the residency prompt names the caller's store and country, `tidy_folder`
completes its folder from the caller's own folders, and a failed call is reported in a log
message that names the tool and code only."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Server, err, ok
from mcp.types import PromptReference, ResourceTemplateReference

pytestmark = pytest.mark.anyio


async def test_prompts_list_and_get(server: Server) -> None:
    async with server.connect() as c:
        listed = {p.name: p for p in (await c.list_prompts()).prompts}
        assert set(listed) == {"where_is_my_data", "tidy_folder"}, sorted(listed)
        assert all(p.description for p in listed.values())
        where = await c.get_prompt("where_is_my_data")
        text = where.messages[0].content.text
        assert "country DE" in text and "attests" in text, text
        tidy = await c.get_prompt("tidy_folder", {"folder": "notes"})
        assert "`notes`" in tidy.messages[0].content.text


async def test_folder_completion_offers_the_callers_folders(server: Server) -> None:
    async with server.connect() as c:
        for key in ["notes/2025/a.txt", "notes/2026/b.txt", "notes/x.txt", "photos/c.jpg"]:
            await ok(c, "put", {"key": key, "text": "x"})
        ref = PromptReference(type="ref/prompt", name="tidy_folder")
        top = await c.complete(ref, {"name": "folder", "value": ""})
        assert top.completion.values == ["notes/", "photos/"], top.completion
        deep = await c.complete(ref, {"name": "folder", "value": "notes/202"})
        assert deep.completion.values == ["notes/2025/", "notes/2026/"], deep.completion
        other = await c.complete(ref, {"name": "nothing", "value": "n"})
        assert other.completion.values == []
        template = ResourceTemplateReference(type="ref/resource", uri="bitatlas://{key}")
        keys = await c.complete(template, {"name": "key", "value": "notes/"})
        assert keys.completion.values == ["notes/2025/", "notes/2026/", "notes/x.txt"], keys.completion


async def test_a_failed_call_is_logged_without_its_key(server: Server) -> None:
    messages: list[Any] = []

    async def on_log(params: Any) -> None:
        messages.append(params)

    # 2025-11-25 sessions ask with logging/setLevel; 2026-07-28 requests opt in by _meta.
    legacy = server.transport == "http-legacy"
    options: dict[str, Any] = {"logging_callback": on_log}
    if not legacy:
        options["log_level"] = "warning"
    async with server.connect(**options) as c:
        if legacy:
            await c.set_logging_level("warning")
        code, _ = await err(c, "get", {"key": "secret-name.txt"}, server)
        assert code == "NOT_FOUND"
        await ok(c, "list", {})
    assert messages, "no log message for the failed call"
    assert messages[0].data == {"tool": "get", "code": "NOT_FOUND"}, messages
    assert messages[0].level == "warning"
    assert "secret-name" not in repr(messages)
