"""The MCP Inspector CLI (`@modelcontextprotocol/inspector --cli`) against the real binary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Server, running_server, tool_path

pytestmark = pytest.mark.inspector

TOOLS = {"put", "get", "delete", "list", "search", "presign", "transfer", "locate"}


def inspector(target: list[str], *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Runs the Inspector CLI with its state files kept out of the real home directory."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
        "NO_COLOR": "1",
    }
    cmd = [tool_path("NODE"), tool_path("INSPECTOR"), "--cli", *target, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    print(f"$ {' '.join(cmd[1:])}\n-> exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def stdio_target(server: Server) -> list[str]:
    return [server.bin, *server.serve_args()]


def payload(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def stdio() -> Server:
    with running_server("stdio") as s:
        yield s


def test_tools_list_strict(stdio: Server, home: Path) -> None:
    proc = inspector(stdio_target(stdio), "--method", "tools/list", "--strict", "--format", "json", home=home)
    # --strict exits 6 when a tool schema has an error-severity portability problem.
    assert proc.returncode == 0, proc.stderr[-3000:]
    tools = payload(proc)["result"]["tools"]
    assert {t["name"] for t in tools} == TOOLS
    for t in tools:
        assert "inputSchema" in t and "outputSchema" in t and "annotations" in t, t["name"]
    assert "0 errors" in proc.stderr
    assert "unknown format" not in proc.stdout + proc.stderr


def test_tools_call_put_then_get(stdio: Server, home: Path) -> None:
    target = stdio_target(stdio)
    put = inspector(target, "--method", "tools/call", "--tool-name", "put", "--tool-arg", "key=x", "--tool-arg", "text=hi", "--format", "json", home=home)
    assert put.returncode == 0, put.stderr[-3000:]
    assert "unknown format" not in put.stdout + put.stderr
    result = payload(put)["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["key"] == "x"
    assert result["structuredContent"]["size"] == 2
    # A second process on the same data dir reads it back (keyring and store persisted).
    get = inspector(target, "--method", "tools/call", "--tool-name", "get", "--tool-arg", "key=x", "--format", "json", "-q", home=home)
    assert get.returncode == 0, get.stderr[-3000:]
    result = payload(get)["result"]
    assert result["structuredContent"]["data"] == "hi"
    assert result["content"][0]["text"] == "hi"


@pytest.mark.parametrize("era", ["legacy", "modern", "auto"])
def test_http_both_eras(era: str, home: Path) -> None:
    with running_server("http-legacy") as http:
        target = [http.mcp_url, "--protocol-era", era]
        put = inspector(target, "--method", "tools/call", "--tool-name", "put", "--tool-args-json", '{"key":"n/1","text":"über","metadata":{"a":"b"}}', "--format", "json", "-q", home=home)
        assert put.returncode == 0, put.stderr[-3000:]
        get = inspector(target, "--method", "tools/call", "--tool-name", "get", "--tool-arg", "key=n/1", "--format", "json", "-q", home=home)
        assert get.returncode == 0, get.stderr[-3000:]
        sc = payload(get)["result"]["structuredContent"]
        assert sc["data"] == "über" and sc["metadata"] == {"a": "b"}
        listed = inspector(target, "--method", "tools/list", "--format", "json", "-q", home=home)
        assert listed.returncode == 0
        assert {t["name"] for t in payload(listed)["result"]["tools"]} == TOOLS


def test_tool_error_fails_the_call(stdio: Server, home: Path) -> None:
    proc = inspector(stdio_target(stdio), "--method", "tools/call", "--tool-name", "get", "--tool-arg", "key=../x", "--format", "json", "-q", home=home)
    assert proc.returncode != 0
    assert str(stdio.data_dir) not in proc.stdout + proc.stderr


def test_tool_error_code_reaches_the_inspector(stdio: Server, home: Path) -> None:
    proc = inspector(stdio_target(stdio), "--method", "tools/call", "--tool-name", "get", "--tool-arg", "key=../x", "--format", "json", "-q", home=home)
    assert "INVALID_KEY" in proc.stdout + proc.stderr
