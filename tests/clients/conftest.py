"""Fixtures that run the real `bitatlas` binary and connect real MCP clients to it.

Every test gets a fresh temporary `--data-dir`. The `server` fixture is parametrized over the
three ways a client reaches BitAtlas:

* ``stdio``           - the SDK's stdio client launches ``bitatlas serve`` as a subprocess;
* ``http-stateless``  - ``bitatlas serve --http``; the SDK's default negotiation (2026-07-28,
                        stateless requests);
* ``http-legacy``     - the same HTTP server; ``Client(..., mode="legacy")`` (2025-11-25,
                        initialize handshake and ``Mcp-Session-Id`` sessions).

Paths come from the environment (set by ``tests/it/mcp_clients.rs``), falling back to
``tests/.tools/paths.env`` (written by ``tests/tools/setup.sh``) and the cargo target dir.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
PATHS_ENV = ROOT / "tests" / ".tools" / "paths.env"

TRANSPORTS = ["stdio", "http-stateless", "http-legacy"]
HTTP_TRANSPORTS = ["http-stateless", "http-legacy"]


def _paths_env() -> dict[str, str]:
    out: dict[str, str] = {}
    if PATHS_ENV.exists():
        for line in PATHS_ENV.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def tool_path(name: str) -> str:
    """A tool installed by setup.sh: NODE, INSPECTOR, CONFORMANCE, PYTHON."""
    value = os.environ.get(f"BITATLAS_TEST_{name}") or _paths_env().get(name)
    if not value:
        pytest.fail(f"{name} is not set up: run `bash tests/tools/setup.sh`")
    return value


def bitatlas_bin() -> str:
    env = os.environ.get("BITATLAS_BIN")
    if env:
        return env
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    candidate = target / "debug" / "bitatlas"
    if candidate.exists():
        return str(candidate)
    pytest.fail("set BITATLAS_BIN to the bitatlas binary (or run through `cargo test`)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthz(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bitatlas exited with {proc.returncode} before /healthz answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"/healthz did not answer within {timeout}s: {last}")


@dataclass
class Server:
    """One bitatlas instance (or, for stdio, the recipe to launch one) with its data dir."""

    transport: str
    data_dir: Path
    bin: str
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        assert self.port is not None, "not an HTTP server"
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def serve_args(self) -> list[str]:
        return ["serve", "--data-dir", str(self.data_dir), *self.extra_args]

    def connect(self, read_timeout: float = 60.0, **options: Any) -> Client:
        """A not-yet-entered SDK client: use as ``async with server.connect() as c``.
        ``options`` go to ``Client`` (callbacks, ``log_level``)."""
        if self.transport == "stdio":
            params = StdioServerParameters(command=self.bin, args=self.serve_args())
            return Client(params, read_timeout_seconds=read_timeout, **options)
        if self.transport == "http-stateless":
            return Client(self.mcp_url, read_timeout_seconds=read_timeout, **options)
        if self.transport == "http-legacy":
            return Client(self.mcp_url, mode="legacy", read_timeout_seconds=read_timeout, **options)
        raise ValueError(self.transport)

    def host_paths(self) -> list[str]:
        """Host paths that must never show up in anything a client sees."""
        return [str(self.data_dir), str(self.data_dir.parent)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running_server(transport: str, *extra_args: str) -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="bitatlas-clients-"))
    data_dir = root / "data"
    server = Server(transport=transport, data_dir=data_dir, bin=bitatlas_bin(), extra_args=list(extra_args))
    try:
        if transport != "stdio":
            server.port = free_port()
            server.log_path = root / "server.log"
            log = open(server.log_path, "wb")
            server.proc = subprocess.Popen(
                [server.bin, *server.serve_args(), "--http", f"127.0.0.1:{server.port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            log.close()
            try:
                wait_healthz(f"{server.base_url}/healthz", server.proc)
            except RuntimeError as e:
                server.stop()
                raise RuntimeError(f"{e}\n--- server log ---\n{server.log_path.read_text(errors='replace')}") from e
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with running_server(request.param) as s:
        yield s


@pytest.fixture(params=HTTP_TRANSPORTS)
def http_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with running_server(request.param) as s:
        yield s


@pytest.fixture
def stdio_server() -> Iterator[Server]:
    with running_server("stdio") as s:
        yield s


# --- small result helpers shared by the test modules ---------------------------------------


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must succeed; returns its structured content."""
    result = await client.call_tool(tool, args)
    text = " ".join(getattr(b, "text", "") for b in result.content)
    assert not result.is_error, f"{tool} failed: {text[:500]}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    return result.structured_content


async def err(client: Client, tool: str, args: dict[str, Any], server: Server) -> tuple[str, str]:
    """Calls a tool that must fail with a typed error; returns (code, text).

    Checks the error shape every error shares: `isError`, structured `{code, message}`, a text
    block starting with the code, and no host path anywhere in it.
    """
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    sc = result.structured_content
    assert isinstance(sc, dict) and isinstance(sc.get("code"), str) and isinstance(sc.get("message"), str), sc
    code = sc["code"]
    texts = [getattr(b, "text", "") for b in result.content]
    assert texts and texts[0].startswith(f"{code}:"), f"error text must start with {code}: {texts}"
    blob = " ".join(texts) + " " + sc["message"]
    for p in server.host_paths():
        assert p not in blob, f"host path {p!r} leaked into an error: {blob!r}"
    return code, texts[0]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

