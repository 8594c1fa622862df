"""Peak server memory while N clients read an object at the inline limit at once.

Starts `bitatlas serve --http` on loopback, stores one object of `--size` bytes (default: the
8 MiB inline limit) and has `--clients` official Python SDK clients `get` it concurrently, in
the stateless (2026-07-28) and the legacy (2025-11-25, sessions) mode. Prints the server's
peak RSS (VmHWM) before and after each round and checks every answer. Not part of the test
suite; run:

    tests/.tools/venv/bin/python tests/load/big_gets.py --bin target/release/bitatlas
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

from mcp import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


async def one_get(url: str, mode: str, key: str, size: int) -> None:
    async with Client(url, mode=mode, read_timeout_seconds=300) as c:
        result = await c.call_tool("get", {"key": key})
        assert not result.is_error, result.content
        data = result.structured_content["data"]
        got = data.encode() if result.structured_content["encoding"] == "utf8" else base64.b64decode(data)
        assert len(got) == size, len(got)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--size", type=int, default=8 * 1024 * 1024)
    args = ap.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bitatlas-big-gets-")
    port = free_port()
    proc = subprocess.Popen(
        [args.bin, "serve", "--data-dir", data_dir, "--http", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        async with Client(url, read_timeout_seconds=300) as c:
            payload = base64.b64encode(os.urandom(args.size)).decode()
            put = await c.call_tool("put", {"key": "big.bin", "base64": payload})
            assert not put.is_error, put.content
        print(f"after put: rss {status_kb(proc.pid, 'VmRSS') // 1024} MiB, peak {status_kb(proc.pid, 'VmHWM') // 1024} MiB")
        for mode in ("auto", "legacy"):
            start = time.monotonic()
            await asyncio.gather(*(one_get(url, mode, "big.bin", args.size) for _ in range(args.clients)))
            took = time.monotonic() - start
            print(
                f"{args.clients} concurrent {args.size}-byte gets ({mode}): {took:.2f}s, "
                f"rss {status_kb(proc.pid, 'VmRSS') // 1024} MiB, peak {status_kb(proc.pid, 'VmHWM') // 1024} MiB"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
