"""What ends up on disk: sealed objects only, and an audit trail without content or key names."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from conftest import Server, err, ok

pytestmark = pytest.mark.anyio


def marker() -> str:
    return "ZQX" + secrets.token_hex(8).upper() + "MARK"


def encodings_of(m: str) -> dict[str, bytes]:
    """The marker as raw bytes, and in the trivial encodings a non-sealing store might use."""
    raw = m.encode()
    forms = {
        "raw": raw,
        "utf16le": m.encode("utf-16-le"),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    # base64 of the marker at each of the three alignments inside a longer stream.
    for pad in range(3):
        enc = base64.b64encode(b"\x00" * pad + raw)
        forms[f"base64+{pad}"] = enc[4:-4]
        forms[f"base64url+{pad}"] = base64.urlsafe_b64encode(b"\x00" * pad + raw)[4:-4]
    return forms


def scan(root: Path, m: str) -> list[str]:
    hits = []
    forms = encodings_of(m)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if m.lower() in name.lower():
                hits.append(f"path name: {os.path.join(dirpath, name)}")
        for name in filenames:
            path = Path(dirpath) / name
            data = path.read_bytes()
            for label, needle in forms.items():
                if needle in data:
                    hits.append(f"{label} in {path.relative_to(root)}")
    return hits


async def test_no_plaintext_on_disk(server: Server) -> None:
    m = marker()
    key = f"people/{m}/record.txt"
    async with server.connect() as c:
        await ok(c, "put", {"key": key, "text": f"patient notes for {m}: all fine", "metadata": {"owner": m, m.lower(): "x"}})
        await ok(c, "put", {"key": f"bin/{m}.bin", "base64": base64.b64encode(b"\x00" + m.encode() + b"\xff").decode()})
        # Reads and searches must not leave plaintext behind either (caches, indexes, audit).
        got = await ok(c, "get", {"key": key})
        assert m in got["data"]
        found = await ok(c, "search", {"metadata": {"owner": m}})
        assert [x["key"] for x in found["matches"]] == [key]
        listed = await ok(c, "list", {"prefix": "people"})
        assert [o["key"] for o in listed["objects"]] == [key]
        await err(c, "get", {"key": f"missing/{m}"}, server)
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert any("objects" in p.parts for p in files), f"no object files under {server.data_dir}: {files}"
    hits = scan(server.data_dir, m)
    assert not hits, "plaintext marker found on disk:\n  " + "\n  ".join(hits)


def audit_lines(server: Server) -> list[str]:
    path = server.data_dir / "audit" / "audit.jsonl"
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]


async def test_audit_records_every_call(server: Server) -> None:
    m = marker()
    key = f"hr/{m}.txt"
    calls = [
        ("put", {"key": key, "text": f"salary of {m}", "metadata": {"owner": m}}),
        ("get", {"key": key}),
        ("list", {"prefix": "hr"}),
        ("search", {"metadata": {"owner": m}}),
        ("get", {"key": key, "range": {"start": 0, "end": 3}}),
        ("presign", {"key": key, "method": "GET"}),
        ("get", {"key": f"hr/missing-{m}"}),
        ("put", {"key": f"../{m}", "text": "denied"}),
        ("delete", {"key": key}),
        ("delete", {"key": key}),
    ]
    async with server.connect() as c:
        await c.list_tools()
        for tool, args in calls:
            before = len(audit_lines(server))
            await c.call_tool(tool, args)
            lines = audit_lines(server)
            new = lines[before:]
            assert new, f"{tool} {list(args)} left no audit record"
            records = [json.loads(line) for line in new]
            assert all(isinstance(r, dict) for r in records)
            assert any(r.get("tool") == tool for r in records), (tool, records)
    text = "\n".join(audit_lines(server))
    assert m not in text, "the audit trail holds the marker (content, metadata or key name)"
    assert m.lower() not in text.lower()
    assert key not in text, "the audit trail holds a plaintext key name"
    for p in server.host_paths():
        assert p not in text


def audit_verify(server: Server) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [server.bin, "audit", "verify", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_audit_chain_verifies_and_detects_edits(server: Server) -> None:
    probe = subprocess.run([server.bin, "audit", "verify", "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("this build has no `bitatlas audit verify`")
    async with server.connect() as c:
        for i in range(5):
            await ok(c, "put", {"key": f"chain/{i}", "text": str(i)})
        await ok(c, "list", {"prefix": "chain"})
        await err(c, "get", {"key": "chain/missing"}, server)
        await ok(c, "delete", {"key": "chain/0"})
    intact = audit_verify(server)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    path = server.data_dir / "audit" / "audit.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) >= 8
    # Change one decision in the middle of the chain.
    victim = len(lines) // 2
    record = json.loads(lines[victim])
    record["code"] = "TAMPERED"
    lines[victim] = json.dumps(record, separators=(",", ":")) + "\n"
    path.write_text("".join(lines))
    broken = audit_verify(server)
    assert broken.returncode != 0, "an edited audit record went unnoticed"
