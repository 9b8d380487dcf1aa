"""A local S3-compatible server for the tests: moto's standalone server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

from tasks.redis_server import free_port, stop_process
from tests.support.worker import wait_for

# moto accepts any credentials; boto3 only needs some to sign requests.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, timeout, interval=0.1, message="moto_server to answer")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"moto_server exited with code {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
