"""Transfer links, driven the way an agent and its user drive them: the official SDK asks for a
link, curl moves the bytes (`curl -T`, `curl -o`, `curl -r`), the SDK reads them back.

Every refusal is checked to store nothing: the previous object stays byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mcp import Client

from conftest import Server, bitatlas_bin, err, free_port, ok, running_server, wait_healthz

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=300)


def status_of(*args: str) -> tuple[int, bytes]:
    """Runs curl, returning the HTTP status and the body (written to a temp file)."""
    with tempfile.NamedTemporaryFile() as body:
        done = curl("-o", body.name, "-w", "%{http_code}", *args)
        return int(done.stdout.decode() or 0), Path(body.name).read_bytes()


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def stored_files(data_dir: Path) -> list[Path]:
    """Every file of the zero-config local store (staged uploads included)."""
    return [p for p in (data_dir / "objects").rglob("*") if p.is_file()]


async def link(client: Client, key: str, method: str, **extra: object) -> str:
    out = await ok(client, "transfer", {"key": key, "method": method, **extra})
    assert out["method"] == method
    assert out["url"].startswith("http://127.0.0.1:")
    return out["url"]


async def read_all(client: Client, key: str, size: int, step: int = 4 * MIB) -> bytes:
    """Reads an object back through `get` ranges (base64 inline, a range at a time)."""
    import base64

    parts = []
    for start in range(0, size, step):
        out = await ok(client, "get", {"key": key, "range": {"start": start, "end": min(size, start + step)}})
        parts.append(base64.b64decode(out["data"]) if out["encoding"] == "base64" else out["data"].encode())
    return b"".join(parts)


@pytest.fixture
def http() -> Iterator[Server]:
    with running_server("http-stateless") as s:
        yield s


async def test_upload_download_and_resume_round_trip(http: Server, tmp_path: Path) -> None:
    size = 21 * MIB + 12345  # five parts of sealed upload, the last one short
    src = tmp_path / "in.bin"
    data = random_file(src, size)
    async with http.connect() as client:
        put = await link(client, "media/clip.bin", "PUT", content_type="video/mp4")
        done = curl("-f", "-T", str(src), put)
        assert done.returncode == 0, done.stderr
        stored = json.loads(done.stdout)
        assert stored["key"] == "media/clip.bin" and stored["size"] == size
        assert stored["stored"]["country"] == "DE"

        listed = await ok(client, "list", {"prefix": "media"})
        [obj] = listed["objects"]
        assert obj["size"] == size
        head = await ok(client, "get", {"key": "media/clip.bin", "range": {"start": 0, "end": 1}})
        assert head["content_type"] == "video/mp4" and head["size"] == size
        assert await read_all(client, "media/clip.bin", size) == data

        get = await link(client, "media/clip.bin", "GET")
        out = tmp_path / "out.bin"
        done = curl("-f", "-o", str(out), get)
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == data

        # A resumed download: the first part, then `-C -` continues where the file ends.
        partial = tmp_path / "resumed.bin"
        partial.write_bytes(data[: 7 * MIB + 3])
        done = curl("-f", "-C", "-", "-o", str(partial), get)
        assert done.returncode == 0, done.stderr
        assert partial.read_bytes() == data

        # Ranges: explicit, open-ended, suffix; headers as RFC 9110 has them.
        headers = curl("-f", "-D", "-", "-o", str(tmp_path / "r.bin"), "-r", "100-199", get).stdout.decode()
        assert headers.startswith("HTTP/1.1 206"), headers
        assert f"content-range: bytes 100-199/{size}" in headers.lower()
        assert (tmp_path / "r.bin").read_bytes() == data[100:200]
        curl("-f", "-o", str(tmp_path / "s.bin"), "-r", "-10", get)
        assert (tmp_path / "s.bin").read_bytes() == data[-10:]
        code, body = status_of("-r", f"{size}-", get)
        assert code == 416, body
        assert json.loads(body)["code"] == "INVALID_RANGE"

    # The store holds ciphertext only: no 64-byte window of the plaintext appears in it.
    probes = [data[i : i + 64] for i in range(0, size - 64, size // 7)]
    for f in stored_files(http.data_dir):
        blob = f.read_bytes()
        assert not any(p in blob for p in probes), f"plaintext found in {f}"


async def test_misused_links_are_refused_and_store_nothing(http: Server, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    original = random_file(src, 300_000)
    other = tmp_path / "other.bin"
    random_file(other, 200_000)
    async with http.connect() as client:
        first = await link(client, "doc.bin", "PUT")
        assert curl("-f", "-T", str(src), first).returncode == 0

        get = await link(client, "doc.bin", "GET")
        put = await link(client, "doc.bin", "PUT", max_bytes=250_000)

        # A GET link used for PUT, a PUT link used for GET.
        code, body = status_of("-T", str(other), get)
        assert code == 403 and json.loads(body)["code"] == "UNAUTHORIZED", body
        code, body = status_of(put)
        assert code == 403, body

        # Tampered: one character of the token changed; another tenant in the path.
        parts = urlsplit(put)
        token = parts.path.rsplit("/", 1)[1]
        flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
        code, body = status_of("-T", str(other), put.replace(token, flipped))
        assert code == 403, body
        code, body = status_of("-T", str(other), put.replace("/transfer/default/", "/transfer/someone/"))
        assert code == 403, body

        # Above the link's limit: refused before the body is read (Content-Length), and when
        # the length is not announced (chunked), refused when it is crossed.
        code, body = status_of("-T", str(src), put)
        assert code == 413 and json.loads(body)["code"] == "TOO_LARGE", body
        code, body = status_of("-H", "Transfer-Encoding: chunked", "-T", str(src), put)
        assert code == 413 and json.loads(body)["code"] == "TOO_LARGE", body

        # Expired.
        short = await link(client, "doc.bin", "GET", expires_in=1)
        time.sleep(2.2)
        code, body = status_of(short)
        assert code == 410 and json.loads(body)["code"] == "LINK_EXPIRED", body

        # Revoked: DELETE on the link, then it is refused.
        revocable = await link(client, "doc.bin", "GET")
        assert status_of("-X", "DELETE", revocable)[0] == 204
        code, body = status_of(revocable)
        assert code == 410 and json.loads(body)["code"] == "LINK_REVOKED", body

        # Nothing above changed the object.
        assert curl("-f", get).stdout == original

        # An upload link is spent by its upload, and one issued before a newer write cannot
        # overwrite it.
        stale = await link(client, "doc.bin", "PUT")
        fresh = await link(client, "doc.bin", "PUT")
        small = tmp_path / "small.bin"
        small_data = random_file(small, 1000)
        assert curl("-f", "-T", str(small), fresh).returncode == 0
        code, body = status_of("-T", str(other), fresh)
        assert code == 410 and json.loads(body)["code"] == "LINK_REVOKED", body
        code, body = status_of("-T", str(other), stale)
        assert code == 410, body
        assert curl("-f", get).stdout == small_data

        # Download links are refused for an object above their limit, and for a missing key
        # at issue time.
        limited = await link(client, "doc.bin", "GET", max_bytes=10)
        code, body = status_of(limited)
        assert code == 413, body
        code, _ = await err(client, "transfer", {"key": "missing.bin", "method": "GET"}, http)
        assert code == "NOT_FOUND"
        code, _ = await err(client, "transfer", {"key": "doc.bin", "method": "GET", "expires_in": 7200}, http)
        assert code == "INVALID_ARGUMENT"
        code, _ = await err(client, "transfer", {"key": "../x", "method": "PUT"}, http)
        assert code == "INVALID_KEY"


async def test_a_cut_short_upload_leaves_the_previous_object(http: Server, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    original = random_file(src, 100_000)
    async with http.connect() as client:
        assert curl("-f", "-T", str(src), await link(client, "k.bin", "PUT")).returncode == 0
        before = sorted(p.name for p in stored_files(http.data_dir))
        put = await link(client, "k.bin", "PUT")
        # Announce 12 MiB, send 6 MiB, hang up.
        parts = urlsplit(put)
        with socket.create_connection((parts.hostname, parts.port)) as s:
            s.sendall(
                f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {12 * MIB}\r\n\r\n".encode()
            )
            chunk = os.urandom(MIB)
            for _ in range(6):
                s.sendall(chunk)
        time.sleep(1.0)
        get = await link(client, "k.bin", "GET")
        assert curl("-f", get).stdout == original
        listed = await ok(client, "list", {})
        assert [o["key"] for o in listed["objects"]] == ["k.bin"]
        assert listed["objects"][0]["size"] == len(original)
        # No partial object, and no staged bytes left behind.
        assert sorted(p.name for p in stored_files(http.data_dir)) == before
        # The link was not spent by the failed attempt.
        assert curl("-f", "-T", str(src), put).returncode == 0


async def test_transfer_is_audited_without_the_token(http: Server, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    random_file(src, 5000)
    async with http.connect() as client:
        put = await link(client, "a/b.bin", "PUT")
        assert curl("-f", "-T", str(src), put).returncode == 0
        get = await link(client, "a/b.bin", "GET")
        assert curl("-f", "-o", "/dev/null", get).returncode == 0
        head = curl("-f", "-I", get)
        assert head.returncode == 0 and b"content-length: 5000" in head.stdout.lower()
    token = put.rsplit("/", 1)[1]
    trail = "".join(p.read_text() for p in (http.data_dir / "audit").glob("*.jsonl"))
    tools = [json.loads(line)["tool"] for line in trail.splitlines() if line.strip()]
    assert "transfer" in tools and "transfer-put" in tools and "transfer-get" in tools, tools
    assert token not in trail and token[:24] not in trail
    log = http.log_path.read_text() if http.log_path else ""
    assert token[:24] not in log
    outcomes = [json.loads(l) for l in trail.splitlines() if l.strip()]
    sizes = [o.get("size") for o in outcomes if o["tool"] == "transfer-put" and o.get("phase") == "outcome"]
    assert 5000 in sizes, outcomes[-6:]
    # The HEAD is a successful read of nothing, not a cancelled one.
    gets = [o for o in outcomes if o["tool"] == "transfer-get" and o.get("phase") == "outcome"]
    assert [o["code"] for o in gets] == ["OK", "OK"], gets
    verify = subprocess.run([bitatlas_bin(), "audit", "verify", "--data-dir", str(http.data_dir)], capture_output=True)
    assert verify.returncode == 0, verify.stderr


async def test_stdio_has_no_transfer_links(stdio_server: Server) -> None:
    async with stdio_server.connect() as client:
        code, text = await err(client, "transfer", {"key": "a.bin", "method": "PUT"}, stdio_server)
        assert code == "UNSUPPORTED"
        assert "path" in text and "save_to" in text


def tokens_create(tenant: str) -> tuple[str, str]:
    out = subprocess.run([bitatlas_bin(), "tokens", "create", "--tenant", tenant], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("bat_"), out.stdout
    digest = next(w for w in out.stderr.replace('"', " ").split() if w.startswith("sha256:"))
    return token, digest


@contextlib.contextmanager
def two_tenants(tmp: Path) -> Iterator[tuple[str, dict[str, str]]]:
    (tmp / "objects").mkdir()
    tokens = {}
    text = f'[stores.local]\nprovider = "local"\ncountry = "DE"\npath = "{tmp / "objects"}"\n\n'
    for t in ("alpha", "beta"):
        token, digest = tokens_create(t)
        tokens[t] = token
        text += f'[tenants.{t}]\nstore = "local"\ntokens = ["{digest}"]\n\n'
    (tmp / "bitatlas.toml").write_text(text)
    port = free_port()
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [bitatlas_bin(), "serve", "--config", str(tmp / "bitatlas.toml"), "--data-dir", str(tmp / "data"),
         "--http", f"127.0.0.1:{port}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        wait_healthz(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{port}/mcp", tokens
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_another_tenants_link_opens_nothing(tmp_path: Path) -> None:
    import httpx2 as httpx

    from mcp.client.streamable_http import streamable_http_client

    src = tmp_path / "in.bin"
    random_file(src, 1000)
    with two_tenants(tmp_path) as (url, tokens):
        def client(t: str) -> Client:
            return Client(streamable_http_client(url, http_client=httpx.AsyncClient(headers={"Authorization": f"Bearer {tokens[t]}"})))

        async with client("alpha") as a:
            put = await link(a, "secret.bin", "PUT")
            assert curl("-f", "-T", str(src), put).returncode == 0
            get = await link(a, "secret.bin", "GET")
        # beta's tenant name in alpha's link: beta's keyring does not open alpha's token.
        code, body = status_of(get.replace("/transfer/alpha/", "/transfer/beta/"))
        assert code == 403, body
        async with client("beta") as b:
            listed = await ok(b, "list", {})
            assert listed["objects"] == []


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    proc = subprocess.Popen(
        [bitatlas_bin(), "serve", "--data-dir", str(data_dir), "--http", f"127.0.0.1:{port}"],
        stdout=out, stderr=out, stdin=subprocess.DEVNULL,
    )
    out.close()
    wait_healthz(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


async def test_killing_the_server_mid_upload_keeps_the_previous_version(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    old = tmp_path / "old.bin"
    original = random_file(old, 2 * MIB + 5)
    new = tmp_path / "new.bin"
    random_file(new, 64 * MIB)
    proc = start_server(data_dir, port, log)
    try:
        async with Client(url) as c:
            assert curl("-f", "-T", str(old), await link(c, "v.bin", "PUT")).returncode == 0
            put = await link(c, "v.bin", "PUT")
        upload = subprocess.Popen(["curl", "-sS", "--limit-rate", "8M", "-T", str(new), put],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.5)  # some parts are sealed and staged, the upload is far from done
        proc.kill()
        proc.wait()
        upload.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = start_server(data_dir, port, log)
    try:
        async with Client(url) as c:
            listed = await ok(c, "list", {})
            assert [(o["key"], o["size"]) for o in listed["objects"]] == [("v.bin", len(original))]
            get = await link(c, "v.bin", "GET")
            assert curl("-f", get).stdout == original
    finally:
        proc.terminate()
        proc.wait(timeout=10)
