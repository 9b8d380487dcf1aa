"""Real Celery worker (and beat) processes for the tests, started from wsgi.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class CeleryProcess:
    """A `celery -A wsgi.celery_app <command>` child process in its own process group."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, ready_marker: str):
        self.args = args
        self.env = env
        self.log_path = Path(log_path)
        self.ready_marker = ready_marker
        self.process: subprocess.Popen | None = None
        self._log_offset = 0

    def start(self, timeout: float = 60.0) -> CeleryProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi.celery_app", *self.args],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self._ready, timeout, interval=0.1, message=f"celery {self.args[0]} to start")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"celery {self.args[0]} exited at start:\n{self.output()[-4000:]}")
        return self.ready_marker in self.output()

    def output(self) -> str:
        """What this process wrote since its last start."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and every pool child."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def celery_worker(env: dict[str, str], log_path: Path, queues: str = "transcription,celery",
                  concurrency: int = 2, hostname: str = "test-worker@%h") -> CeleryProcess:
    return CeleryProcess(
        ["worker", "-Q", queues, "-c", str(concurrency), "-n", hostname, "--loglevel", "INFO",
         "--without-gossip", "--without-mingle"],
        env, log_path, ready_marker=" ready.",
    )


def celery_beat(env: dict[str, str], log_path: Path, schedule_path: Path) -> CeleryProcess:
    return CeleryProcess(
        ["beat", "--loglevel", "INFO", "-s", str(schedule_path)],
        env, log_path, ready_marker="beat: Starting",
    )
