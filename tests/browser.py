"""A real headless Chromium for page tests: Debian's ``chromium``, started by the test on
127.0.0.1 (its DevTools port on loopback only), driven by Playwright over CDP, and
killed by PID in teardown. Nothing leaves the machine: background networking, sync,
component updates and QUIC are off, and the pages under test may load nothing but
their own files (tests check the request log)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CHROMIUM = os.environ.get("LINEAGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class Chromium:
    """One Chromium process; ``endpoint`` is its DevTools URL on 127.0.0.1."""

    def __init__(self, profile: Path):
        self.profile = profile
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self, timeout: float = 30.0) -> None:
        if not Path(CHROMIUM).exists():
            raise RuntimeError(
                f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium)"
            )
        port_file = self.profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a stale one from a reused profile names a dead port
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers share the group: one kill stops all
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Chromium exited with {self.proc.returncode}")
            if port_file.is_file():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    self.endpoint = f"http://127.0.0.1:{lines[0]}"
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("Chromium did not open its DevTools port in time")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
