"""Peak server memory while a large file goes through transfer links.

Starts `bitatlas serve --http` on loopback, on the zero-config local store or on a Garage
(a throwaway one started here, or one given by arguments/environment), then:
  1. uploads a file of --mib MiB (default 200) with `curl -T` through a PUT link;
  2. downloads it with `curl -o`, then once more resumed (`curl -C -` after a partial file)
     and once as an explicit `Range`;
  3. checks every download byte for byte, and prints the server's peak RSS (VmHWM, reset through
     /proc/PID/clear_refs after start-up; the highest VmRSS sampled every 20 ms where the reset
     is refused).
Exits 1 when a download differs or the peak RSS reaches --max-rss-mib (default 96).
Not part of the test suite (a load run); run from the repository root:

    cargo build --release
    tests/.tools/venv/bin/python tests/load/transfer_rss.py                  # local store
    tests/.tools/venv/bin/python tests/load/transfer_rss.py --store garage   # throwaway Garage
    # an existing Garage/S3 endpoint (or BITATLAS_S3_ENDPOINT, _BUCKET, _REGION, _KEY_ID, _SECRET):
    tests/.tools/venv/bin/python tests/load/transfer_rss.py --store garage \
        --endpoint http://127.0.0.1:3900 --bucket b --region garage --key-id GK... --secret ...
"""

from __future__ import annotations

import argparse
import asyncio
import filecmp
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from mcp import Client

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> bool:
    """Resets VmHWM to the current RSS; False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler(threading.Thread):
    """The highest VmRSS of a process, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            except (OSError, RuntimeError):
                return
            time.sleep(0.02)


def wait_port(host: str, port: int, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start listening on {host}:{port}")


def start_garage(binary: str, root: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """A single-node Garage with one bucket and key, in `root`."""
    s3, rpc = free_port(), free_port()
    cfg = root / "garage.toml"
    cfg.write_text(
        f'metadata_dir = "{root}/meta"\ndata_dir = "{root}/data"\ndb_engine = "sqlite"\n'
        f'replication_factor = 1\nrpc_bind_addr = "127.0.0.1:{rpc}"\n'
        f'rpc_public_addr = "127.0.0.1:{rpc}"\nrpc_secret = "{secrets.token_hex(32)}"\n'
        f'[s3_api]\ns3_region = "fr-par"\napi_bind_addr = "127.0.0.1:{s3}"\n'
        f'root_domain = ".s3.garage.localhost"\n'
    )
    store = {
        "endpoint": f"http://127.0.0.1:{s3}",
        "bucket": "bitatlas-load",
        "region": "fr-par",
        "key_id": "GK" + secrets.token_hex(12),
        "secret": secrets.token_hex(32),
    }
    env = dict(
        os.environ,
        GARAGE_DEFAULT_ACCESS_KEY=store["key_id"],
        GARAGE_DEFAULT_SECRET_KEY=store["secret"],
        GARAGE_DEFAULT_BUCKET=store["bucket"],
        RUST_LOG="warn",
    )
    log = open(root / "garage.log", "wb")
    proc = subprocess.Popen(
        [binary, "-c", str(cfg), "server", "--single-node", "--default-bucket"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    wait_port("127.0.0.1", s3, "garage")
    time.sleep(0.5)  # the bucket and key are created right after the listener is up
    return proc, store


def garage_config(store: dict[str, str], root: Path) -> str:
    id_file, secret_file = root / "s3.key_id", root / "s3.secret"
    for path, value in ((id_file, store["key_id"]), (secret_file, store["secret"])):
        path.write_text(value)
        path.chmod(0o600)
    return (
        f'[stores.eu]\nprovider = "garage"\nregion = "{store["region"]}"\n'
        f'endpoint = "{store["endpoint"]}"\nbucket = "{store["bucket"]}"\ncountry = "FR"\n'
        f'credentials = {{ access_key_id_file = "{id_file}", secret_access_key_file = "{secret_file}" }}\n'
        f'\n[tenants.load]\nstore = "eu"\n'
    )


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n


def curl(*args: str) -> bytes:
    done = subprocess.run(["curl", "-sS", "--fail", *args], capture_output=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"curl {' '.join(args[:-1])} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def same_range(a: Path, b: Path, start: int, length: int) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(start)
        left = length
        while left:
            n = min(left, 4 * MIB)
            if fa.read(n) != fb.read(n):
                return False
            left -= n
        return fb.read(1) == b""


async def run(args: argparse.Namespace, work: Path) -> int:
    size = args.mib * MIB
    src, out = work / "in.bin", work / "out.bin"
    write_random(src, size)

    garage = None
    data_dir = work / "data"
    cmd = [args.bin, "serve", "--data-dir", str(data_dir)]
    if args.store == "garage":
        store = {k: getattr(args, k) for k in ("endpoint", "bucket", "region", "key_id", "secret")}
        if not store["endpoint"]:
            binary = args.garage_bin or shutil.which("garage") or os.path.expanduser("~/.cargo/bin/garage")
            (work / "garage").mkdir()
            garage, store = start_garage(binary, work / "garage")
        elif not all(store.values()):
            sys.exit("--endpoint needs --bucket, --region, --key-id and --secret (or BITATLAS_S3_*)")
        config = work / "bitatlas.toml"
        config.write_text(garage_config(store, work))
        cmd += ["--config", str(config)]
    port = free_port()
    cmd += ["--http", f"127.0.0.1:{port}"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work / "bitatlas.log", "wb"))
    failures: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"server did not start: {(work / 'bitatlas.log').read_text()}")
                time.sleep(0.05)

        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=60) as client:

            async def link(method: str) -> str:
                r = await client.call_tool("transfer", {"key": "load/big.bin", "method": method})
                if r.is_error or r.structured_content is None:
                    sys.exit(f"transfer {method} failed: {r.content}")
                return r.structured_content["url"]

            put_url = await link("PUT")
            idle = status_kib(server.pid, "VmHWM")
            resettable = reset_peak(server.pid)
            sampler = Sampler(server.pid)
            sampler.start()
            t = time.monotonic()
            stored = json.loads(curl("-T", str(src), put_url))
            up_s = time.monotonic() - t
            if stored.get("size") != size:
                failures.append(f"upload answered {stored}")

            get_url = await link("GET")
            t = time.monotonic()
            curl("-o", str(out), get_url)
            down_s = time.monotonic() - t
            if not filecmp.cmp(src, out, shallow=False):
                failures.append("the download differs from the upload")

            # Resumed: a partial file, then `curl -C -` continues where it ends.
            cut = size // 3 + 12345
            with open(src, "rb") as f, open(out, "wb") as o:
                o.write(f.read(cut))
            curl("-C", "-", "-o", str(out), get_url)
            if not filecmp.cmp(src, out, shallow=False):
                failures.append("the resumed download differs from the upload")

            # An explicit range from the middle to the end.
            start = size // 2 + 7
            curl("-r", f"{start}-", "-o", str(out), get_url)
            if not same_range(src, out, start, size - start):
                failures.append(f"the range {start}- differs from the upload")

            sampler.stop.set()
            sampler.join()
            peak = status_kib(server.pid, "VmHWM") if resettable else sampler.peak
    finally:
        server.terminate()
        server.wait()
        if garage is not None:
            garage.terminate()
            garage.wait()

    how = "VmHWM since reset" if resettable else "max sampled VmRSS"
    print(
        f"store={args.store} size={args.mib} MiB upload={args.mib / up_s:.0f} MiB/s "
        f"download={args.mib / down_s:.0f} MiB/s idle_peak={idle / 1024:.1f} MiB "
        f"transfer_peak={peak / 1024:.1f} MiB ({how}) sampled_rss_max={sampler.peak / 1024:.1f} MiB"
    )
    if peak >= args.max_rss_mib * 1024:
        failures.append(f"peak RSS {peak / 1024:.1f} MiB >= {args.max_rss_mib} MiB")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


def main() -> int:
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=env("BITATLAS_BIN", f"{target}/release/bitatlas"))
    ap.add_argument("--store", choices=["local", "garage"], default=env("BITATLAS_STORE", "local"))
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--max-rss-mib", type=float, default=96)
    ap.add_argument("--garage-bin", default=env("GARAGE_BIN"))
    ap.add_argument("--endpoint", default=env("BITATLAS_S3_ENDPOINT"))
    ap.add_argument("--bucket", default=env("BITATLAS_S3_BUCKET"))
    ap.add_argument("--region", default=env("BITATLAS_S3_REGION"))
    ap.add_argument("--key-id", dest="key_id", default=env("BITATLAS_S3_KEY_ID"))
    ap.add_argument("--secret", default=env("BITATLAS_S3_SECRET"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bitatlas-transfer-rss-") as work:
        return asyncio.run(run(args, Path(work)))


if __name__ == "__main__":
    sys.exit(main())
