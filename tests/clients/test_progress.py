"""Progress for inline calls that take long, through the official Python SDK: a base64 `put`
of more than one part and a `get` large enough to be read in pieces, each given a progress
token, yield notifications that only increase and end at the payload's size. The put runs
over stdio and both HTTP protocol modes; the get's answer (15 MiB of base64) runs over stdio
only, because the SDK's HTTP client refuses a server-sent event above 1 MiB, and a call with
a progress token is answered as an event stream."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from conftest import TRANSPORTS, ok, running_server

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
SIZE = 11 * MIB + 3


def roomy_config(tmp: Path) -> Path:
    path = tmp / "bitatlas.toml"
    path.write_text(
        f"""
[server]
max_inline_bytes = 12000000

[stores.local]
provider = "local"
path = "{tmp / 'objects'}"
country = "DE"

[tenants.default]
store = "local"
"""
    )
    return path


async def call_heard(c, tool: str, args: dict) -> tuple[dict, list[tuple[float, float | None]]]:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    result = await c.call_tool(tool, args, progress_callback=on_progress)
    assert not result.is_error, result.content
    assert len(seen) >= 2, f"{tool}: {seen}"
    steps = [p for p, _ in seen]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), f"{tool}: {seen}"
    assert all(t == SIZE for _, t in seen), f"{tool}: {seen}"
    assert seen[-1][0] == SIZE, f"{tool}: {seen[-1]}"
    return result.structured_content, seen


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_large_inline_put_and_get_report_increasing_progress(transport: str, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    with running_server(transport, "--config", str(roomy_config(tmp_path))) as server:
        async with server.connect(read_timeout=300) as c:
            put, _ = await call_heard(c, "put", {"key": "big/blob.bin", "base64": base64.b64encode(data).decode()})
            assert put["size"] == SIZE
            if transport == "stdio":
                got, _ = await call_heard(c, "get", {"key": "big/blob.bin"})
                assert base64.b64decode(got["data"]) == data
            # Without a token: the same object, read by range.
            got = await ok(c, "get", {"key": "big/blob.bin", "range": {"start": SIZE - 10}})
            assert base64.b64decode(got["data"]) == data[-10:]
