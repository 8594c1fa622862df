"""The stdio transport on the wire: stdout carries only JSON-RPC, pipelined requests all answer,
and a request line too long to read is answered with TOO_LARGE while the session goes on (and,
through the SDK, the same answer over HTTP)."""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, bitatlas_bin, ok
from mcp import MCPError


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
        assert len(replies[n + 2]["result"]["tools"]) == 8
        # Content never reaches the server's own log output.
        assert marker not in stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


MiB = 1024 * 1024
LINE_LIMIT = 16 * MiB
MAX_INLINE = 8 * MiB
# Generous: a guard against a hang, not a measure of speed.
READ_TIMEOUT = 30.0


class WireSession:
    """`bitatlas serve` over raw pipes: lines are written by a thread (a long line must not block
    the reader) and read by another into a queue."""

    def __init__(self, root: Path, extra: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [bitatlas_bin(), "serve", "--data-dir", str(root / "data"), *(extra or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.outgoing: queue.Queue[bytes | None] = queue.Queue()
        self.stderr: list[bytes] = []
        self.threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def _write(self) -> None:
        assert self.proc.stdin is not None
        while (data := self.outgoing.get()) is not None:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except BrokenPipeError:
                return
        self.proc.stdin.close()

    def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.outgoing.put(data)

    def reply(self) -> dict[str, Any]:
        """The next message on stdout (each line must be one JSON-RPC message)."""
        line = self.lines.get(timeout=READ_TIMEOUT)
        assert line, "stdout closed"
        msg = json.loads(line)
        assert msg.get("jsonrpc") == "2.0", line[:200]
        return msg

    def initialize(self) -> None:
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wire", "version": "0"}},
            }
        )
        assert self.reply()["result"]["serverInfo"]
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> tuple[int, str]:
        """Closes stdin once everything queued was written; the exit code and the log."""
        self.outgoing.put(None)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(timeout=20)
        return self.proc.returncode, b"".join(self.stderr).decode(errors="replace")


def big_put_line(payload: int, req_id: Any, id_first: bool = True, marker: str = "") -> bytes:
    """A `tools/call put` line carrying `payload` bytes inline as base64 (larger than the line
    limit for 13 MiB); `req_id` None makes it a notification."""
    b64 = base64.b64encode(marker.encode() + b"\x07" * (payload - len(marker))).decode()
    params = {"name": "put", "arguments": {"key": "big/file.bin", "base64": b64}}
    msg: dict[str, Any] = {"jsonrpc": "2.0"}
    if req_id is not None and id_first:
        msg["id"] = req_id
    msg["method"] = "tools/call" if req_id is not None else "notifications/progress"
    msg["params"] = params
    if req_id is not None and not id_first:
        msg["id"] = req_id
    line = json.dumps(msg).encode() + b"\n"
    assert len(line) > LINE_LIMIT
    return line


def assert_too_large(msg: dict[str, Any], req_id: Any) -> None:
    assert msg.get("id") == req_id, msg
    assert "result" not in msg, msg
    error = msg["error"]
    assert error["code"] == -32600, error
    assert error["message"].startswith("TOO_LARGE: "), error
    for hint in ("put {key, path}", "transfer", "range", "save_to"):
        assert hint in error["message"], (hint, error["message"])
    assert error["data"] == {
        "code": "TOO_LARGE",
        "limit": LINE_LIMIT,
        "max_inline_bytes": MAX_INLINE,
        "alternatives": ["range", "path", "save_to", "transfer"],
    }, error


def test_an_oversize_request_is_answered_too_large_and_the_session_goes_on() -> None:
    root = Path(tempfile.mkdtemp(prefix="bitatlas-wire-"))
    marker = "OVERSIZE-MARKER-51c2"
    session = WireSession(root)
    try:
        session.initialize()
        # 13 MiB inline is about 17.3 MiB of base64: above the 16 MiB line limit.
        session.send(big_put_line(13 * MiB, "put-13MiB", marker=marker))
        assert_too_large(session.reply(), "put-13MiB")
        session.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert session.reply() == {"jsonrpc": "2.0", "id": 2, "result": {}}

        # The id after the payload: found by reading past the line, answered at its end.
        session.send(big_put_line(13 * MiB, 3, id_first=False))
        assert_too_large(session.reply(), 3)

        # An oversize notification gets no answer (JSON-RPC forbids one); the next request does.
        session.send(big_put_line(13 * MiB, None))
        session.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "list", "arguments": {}}})
        listed = session.reply()
        assert listed.get("id") == 4, listed
        assert listed["result"]["structuredContent"]["objects"] == [], listed

        # A line within the limit is still read whole: just under 16 MiB of JSON reaches the
        # tool, whose own inline limit then answers.
        pad = LINE_LIMIT - 200
        near = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "put", "arguments": {"key": "near", "text": "n" * pad}}}
        line = json.dumps(near).encode() + b"\n"
        assert len(line) <= LINE_LIMIT
        session.send(line)
        near_reply = session.reply()
        assert near_reply.get("id") == 5, near_reply
        assert near_reply["result"]["isError"] is True
        assert near_reply["result"]["structuredContent"]["code"] == "TOO_LARGE"
    finally:
        code, stderr = session.close()
        shutil.rmtree(root, ignore_errors=True)
    assert code == 0, stderr
    assert "above the stdio limit" in stderr
    # Neither the payload nor its marker reaches the log.
    assert marker not in stderr
    assert base64.b64encode(marker.encode()).decode()[:16] not in stderr


def test_an_inline_limit_that_cannot_fit_a_stdio_line_stops_start_up() -> None:
    root = Path(tempfile.mkdtemp(prefix="bitatlas-wire-"))
    try:
        config = root / "bitatlas.toml"
        config.write_text("[server]\nmax_inline_bytes = 13631488\n")
        proc = subprocess.run(
            [bitatlas_bin(), "serve", "--data-dir", str(root / "data"), "--config", str(config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout == ""
        assert "max_inline_bytes = 13631488 does not fit the stdio transport" in proc.stderr
        assert "at most 12533760" in proc.stderr
        # Nothing was started: no audit trail, no keyring.
        assert not (root / "data").exists() or not any((root / "data").rglob("*.jsonl"))

        # The largest value that fits is accepted.
        config.write_text("[server]\nmax_inline_bytes = 12533760\n")
        session = WireSession(root, ["--config", str(config)])
        try:
            session.initialize()
        finally:
            code, stderr = session.close()
        assert code == 0, stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.anyio
async def test_a_13_mib_inline_put_gets_too_large_through_the_sdk(server: Server) -> None:
    """The official client sees a typed error, not a hang or "Server returned an error response",
    on every transport; the session then goes on, with nothing stored."""
    payload = base64.b64encode(b"\x07" * (13 * MiB)).decode()
    async with server.connect(read_timeout=READ_TIMEOUT) as c:
        for _ in range(2):
            with pytest.raises(MCPError) as caught:
                await c.call_tool("put", {"key": "big/file.bin", "base64": payload})
            error = caught.value.error
            assert error.code == -32600, error
            assert error.message.startswith("TOO_LARGE: "), error
            assert isinstance(error.data, dict) and error.data["code"] == "TOO_LARGE", error
            assert error.data["max_inline_bytes"] == MAX_INLINE, error
            assert error.data["alternatives"] == ["range", "path", "save_to", "transfer"], error
            expected_limit = LINE_LIMIT if server.transport == "stdio" else (MAX_INLINE // 3 + 1) * 4 + 256 * 1024
            assert error.data["limit"] == expected_limit, error
        listed = await ok(c, "list", {})
        assert listed["objects"] == []
