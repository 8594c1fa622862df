"""The stdio transport on the wire: stdout carries only JSON-RPC, pipelined requests all answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import bitatlas_bin


def test_stdout_is_only_json_rpc_and_pipelined_calls_answer() -> None:
    root = Path(tempfile.mkdtemp(prefix="bitatlas-wire-"))
    try:
        data_dir = root / "data"
        marker = "WIRE-MARKER-7f3a"
        messages = [
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wire", "version": "0"}},
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
        ]
        n = 20
        for i in range(1, n + 1):
            messages.append(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "tools/call",
                    "params": {"name": "put", "arguments": {"key": f"wire/{i:02d}", "text": f"{marker} {i}"}},
                }
            )
        messages.append({"jsonrpc": "2.0", "id": n + 1, "method": "tools/call", "params": {"name": "get", "arguments": {"key": "../bad"}}})
        messages.append({"jsonrpc": "2.0", "id": n + 2, "method": "tools/list"})
        stdin = "".join(json.dumps(m) + "\n" for m in messages)
        proc = subprocess.Popen(
            [bitatlas_bin(), "serve", "--data-dir", str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(stdin)
        proc.stdin.flush()
        replies: dict[int, dict] = {}
        lines: list[str] = []
        # Read until every request is answered, then close stdin so the server exits.
        while len(replies) < n + 3:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            msg = json.loads(line)  # every stdout line is one JSON-RPC message
            assert msg.get("jsonrpc") == "2.0", line
            if "id" in msg and ("result" in msg or "error" in msg):
                replies[msg["id"]] = msg
        try:
            rest, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, stderr = proc.communicate()
        for line in rest.splitlines():
            if line.strip():
                json.loads(line)
        assert set(replies) == set(range(0, n + 3)), sorted(replies)
        assert replies[0]["result"]["serverInfo"]
        for i in range(1, n + 1):
            result = replies[i]["result"]
            assert result.get("isError") is not True, result
            assert result["structuredContent"]["key"] == f"wire/{i:02d}"
        bad = replies[n + 1]["result"]
        assert bad["isError"] is True and bad["structuredContent"]["code"] == "INVALID_KEY"
        assert len(replies[n + 2]["result"]["tools"]) == 7
        # Content never reaches the server's own log output.
        assert marker not in stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
