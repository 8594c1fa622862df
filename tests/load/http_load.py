"""A bounded load run against `bitatlas serve --http` on loopback.

N concurrent MCP clients (official Python SDK, stateless mode) each loop over mixed calls —
put, get, list, search, delete — for a fixed time. Prints calls/s, errors and the server's RSS
at the start and the end. Not part of the test suite (it takes minutes); run:

    tests/.tools/venv/bin/python tests/load/http_load.py --bin target/release/bitatlas \
        --clients 32 --seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
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


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def worker(url: str, wid: int, deadline: float, stats: dict[str, int]) -> None:
    async with Client(url, read_timeout_seconds=60) as c:
        i = 0
        while time.monotonic() < deadline:
            key = f"load/w{wid}/{i % 50}.txt"
            calls = [
                ("put", {"key": key, "text": f"payload {wid} {i} " * 16, "metadata": {"w": str(wid)}}),
                ("get", {"key": key}),
                ("list", {"prefix": f"load/w{wid}", "limit": 20}),
                ("search", {"metadata": {"w": str(wid)}, "limit": 10}),
            ]
            if i % 5 == 4:
                calls.append(("delete", {"key": key}))
            for name, args in calls:
                r = await c.call_tool(name, args)
                stats["calls"] += 1
                if r.is_error:
                    stats["errors"] += 1
                    if stats["errors"] <= 5:
                        print("error:", name, r.content[0].text if r.content else r)
            i += 1


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/bitatlas")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    port = free_port()
    data = tempfile.mkdtemp(prefix="bitatlas-load-")
    # One tenant takes all the load here, so lift the per-tenant limits (defaults: 50/s, 32 in
    # flight) well above what the clients can send; the limits themselves are tested elsewhere.
    config = os.path.join(data, "bitatlas.toml")
    with open(config, "w") as f:
        f.write("[http]\nrate_per_second = 100000.0\nburst = 100000\nmax_in_flight_per_tenant = 1024\n")
    proc = subprocess.Popen(
        [a.bin, "serve", "--http", f"127.0.0.1:{port}", "--data-dir", data, "--config", config],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        stats = {"calls": 0, "errors": 0}
        rss0 = rss_kb(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        start = time.monotonic()
        deadline = start + a.seconds
        samples = []

        async def sample() -> None:
            while time.monotonic() < deadline:
                await asyncio.sleep(max(1.0, a.seconds / 10))
                samples.append(rss_kb(proc.pid))

        await asyncio.gather(sample(), *(worker(url, w, deadline, stats) for w in range(a.clients)))
        took = time.monotonic() - start
        print(
            f"clients={a.clients} seconds={took:.0f} calls={stats['calls']} "
            f"calls/s={stats['calls'] / took:.0f} errors={stats['errors']} "
            f"rss_kb start={rss0} samples={samples} end={rss_kb(proc.pid)} "
            f"server_cpu={100 * (cpu_seconds(proc.pid) - cpu0) / took:.0f}%"
        )
        audit = os.path.join(data, "audit", "audit.jsonl")
        verify = subprocess.run([a.bin, "audit", "verify", audit, "--data-dir", data], capture_output=True, text=True)
        print("audit verify:", verify.returncode, verify.stdout.strip() or verify.stderr.strip())
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
