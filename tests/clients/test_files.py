"""Local files for stdio agents: `put {key, path}` and `get {key, save_to}` inside a files root,
through the official SDK over stdio, with progress notifications, and every path trick the
official filesystem server had to learn about refused with a typed error.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Server, err, ok, running_server

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


@pytest.fixture
def root() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="bitatlas-files-"))
    (base / "data").mkdir()
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def files_server(root: Path) -> Iterator[Server]:
    with running_server("stdio", "--files-root", str(root / "data")) as s:
        yield s


async def test_a_50_mib_file_round_trips_with_progress(files_server: Server, root: Path) -> None:
    data = os.urandom(50 * MIB + 99)
    src = root / "data" / "video.mp4"
    src.write_bytes(data)
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with files_server.connect(read_timeout=300) as c:
        result = await c.call_tool("put", {"key": "clips/v.mp4", "path": str(src)}, progress_callback=on_progress)
        assert not result.is_error, result.content
        put = result.structured_content
        assert put["size"] == len(data) and put["key"] == "clips/v.mp4"
        assert seen, "no progress notification"
        assert [p for p, _ in seen] == sorted(p for p, _ in seen), seen
        assert seen[-1] == (len(data), len(data)), seen[-1]

        # The content type was taken from the file name.
        head = await ok(c, "get", {"key": "clips/v.mp4", "range": {"start": 0, "end": 4}})
        assert head["content_type"] == "video/mp4"

        (root / "data" / "copy").mkdir()
        out = await ok(c, "get", {"key": "clips/v.mp4", "save_to": "copy/back.mp4"})
        saved = Path(out["saved_to"])
        assert saved == (root / "data" / "copy" / "back.mp4").resolve()
        assert out["size"] == len(data)
        assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert oct(saved.stat().st_mode & 0o777) == oct(0o600)

        # A range saved to a file, replacing the previous file atomically.
        out = await ok(c, "get", {"key": "clips/v.mp4", "range": {"start": 10, "end": 1010}, "save_to": str(saved)})
        assert out["written"] == 1000
        assert saved.read_bytes() == data[10:1010]
        # No temporary file stays behind.
        assert sorted(p.name for p in (root / "data" / "copy").iterdir()) == ["back.mp4"]


async def test_paths_outside_the_root_are_refused(files_server: Server, root: Path) -> None:
    inside = root / "data"
    (inside / "ok.txt").write_text("fine")
    evil = root / "data-evil"
    evil.mkdir()
    (evil / "secret.txt").write_text("prefix collision")
    (root / "outside.txt").write_text("outside")
    os.symlink(root / "outside.txt", inside / "link-out.txt")
    os.symlink(root, inside / "dir-out")
    os.mkfifo(inside / "pipe")
    (inside / "sub").mkdir()
    async with files_server.connect() as c:
        cases = {
            "/etc/passwd": "PATH_OUTSIDE_ROOT",
            str(inside / ".." / "outside.txt"): "PATH_OUTSIDE_ROOT",
            "../outside.txt": "PATH_OUTSIDE_ROOT",
            str(evil / "secret.txt"): "PATH_OUTSIDE_ROOT",
            str(inside / "link-out.txt"): "PATH_OUTSIDE_ROOT",
            "dir-out/outside.txt": "PATH_OUTSIDE_ROOT",
            str(inside / "pipe"): "NOT_A_FILE",
            str(inside / "sub"): "IS_A_DIRECTORY",
            str(inside / "missing.txt"): "FILE_NOT_FOUND",
            "a\u0000b": "INVALID_PATH",
        }
        for path, expected in cases.items():
            code, text = await err(c, "put", {"key": "x.txt", "path": path}, files_server)
            assert code == expected, (path, code, text)
        # Nothing was stored by any of them.
        assert (await ok(c, "list", {}))["objects"] == []

        await ok(c, "put", {"key": "ok.txt", "path": "ok.txt"})
        for target, expected in {
            "/tmp/escaped.txt": "PATH_OUTSIDE_ROOT",
            "../escaped.txt": "PATH_OUTSIDE_ROOT",
            str(evil / "escaped.txt"): "PATH_OUTSIDE_ROOT",
            "dir-out/escaped.txt": "PATH_OUTSIDE_ROOT",
            "sub": "IS_A_DIRECTORY",
            "nodir/x.txt": "FILE_NOT_FOUND",
        }.items():
            code, text = await err(c, "get", {"key": "ok.txt", "save_to": target}, files_server)
            assert code == expected, (target, code, text)
        assert not (root / "escaped.txt").exists() and not (evil / "escaped.txt").exists()
        # A missing object saves nothing, not even an empty file.
        code, _ = await err(c, "get", {"key": "missing", "save_to": "new.txt"}, files_server)
        assert code == "NOT_FOUND"
        assert not (inside / "new.txt").exists()
        # `path` is exclusive with inline payloads.
        code, _ = await err(c, "put", {"key": "x", "path": "ok.txt", "text": "y"}, files_server)
        assert code == "INVALID_ARGUMENT"


async def test_files_are_off_without_a_root(stdio_server: Server, tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    async with stdio_server.connect() as c:
        code, text = await err(c, "put", {"key": "a.txt", "path": str(f)}, stdio_server)
        assert code == "FILES_DISABLED"
        assert "--files-root" in text
        code, _ = await err(c, "get", {"key": "a.txt", "save_to": str(f)}, stdio_server)
        assert code == "FILES_DISABLED"


async def test_a_cancelled_put_or_save_leaves_nothing(files_server: Server, root: Path) -> None:
    import anyio

    big = root / "data" / "big.bin"
    with open(big, "wb") as f:
        for _ in range(160):
            f.write(os.urandom(MIB))
    async with files_server.connect(read_timeout=300) as c:
        with anyio.move_on_after(0.5) as scope:
            await c.call_tool("put", {"key": "big.bin", "path": str(big)})
        assert scope.cancelled_caught, "the put finished before it could be cancelled"
        # The server stops at the next part and commits nothing; later calls are served.
        await anyio.sleep(2)
        assert (await ok(c, "list", {}))["objects"] == []

        await ok(c, "put", {"key": "big.bin", "path": str(big)})
        (root / "data" / "out").mkdir()
        with anyio.move_on_after(0.3) as scope:
            await c.call_tool("get", {"key": "big.bin", "save_to": "out/copy.bin"})
        assert scope.cancelled_caught, "the save finished before it could be cancelled"
        await anyio.sleep(2)
        # Neither the file nor a temporary file is left in the directory.
        assert list((root / "data" / "out").iterdir()) == []
    trail = (files_server.data_dir / "audit" / "audit.jsonl").read_text()
    assert '"CANCELLED"' in trail
