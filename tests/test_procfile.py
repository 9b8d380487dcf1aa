"""The Procfile runs as it is with `honcho start`: web, worker and beat come up, /readyz says
ready, and one SIGTERM to honcho stops them all. It runs in a clone (committed HEAD), so
beat's schedule file and the instance folder stay out of this checkout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tasks.redis_server import RedisServer, free_port
from tests.support.browser import Browser
from tests.support.worker import REPO_ROOT, wait_for
from tests.test_newcomer import processes_from


def test_honcho_starts_web_worker_and_beat_and_stops_them(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    (tmp_path / "empty.env").write_text("")
    port = free_port()
    with RedisServer() as redis:
        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": os.environ["HOME"],
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}", "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "CELERY_BROKER_URL": f"{redis.url}/0", "CELERY_RESULT_BACKEND": f"{redis.url}/1",
            "WEB_CONCURRENCY": "1", "WORKER_CONCURRENCY": "1",
        }
        log_path = tmp_path / "honcho.log"
        with open(log_path, "wb") as log:
            honcho = subprocess.Popen(
                [sys.executable, "-m", "honcho", "--no-colour", "-e", str(tmp_path / "empty.env"), "start",
                 "-p", str(port)],
                cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            browser = Browser(f"http://127.0.0.1:{port}", timeout=5)

            def ready() -> bool:
                assert honcho.poll() is None, log_path.read_text()[-4000:]
                try:
                    return browser.get("/readyz").status == 200
                except OSError:
                    return False

            wait_for(ready, 90, interval=0.5, message="web, worker and broker to be ready under honcho")
            wait_for(lambda: "beat: Starting" in log_path.read_text(), 30, message="beat to start")
            output = log_path.read_text()
            assert all(f"{name}.1 " in output for name in ("web", "worker", "beat")), output[-3000:]
        finally:
            honcho.send_signal(signal.SIGTERM)
            try:
                honcho.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                raise
        wait_for(lambda: not processes_from(clone), 30, interval=0.2, message="every Procfile process to stop")
