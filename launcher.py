"""`python3 run.py`: the whole app in one terminal.

Starts what the environment does not provide: an embedded Redis when
CELERY_BROKER_URL is unset, then a Celery worker, beat and the web server.
Ctrl-C stops every process it started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tasks.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM if the launcher dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# Own process group: Ctrl-C in the terminal reaches us only, and we stop the
# children in order instead of them racing to die (Redis last, after the workers).
CHILD_OPTIONS = {"start_new_session": True, "preexec_fn": _die_with_parent}


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, **CHILD_OPTIONS)


def _stop(processes: list[subprocess.Popen], timeout: float = 20.0) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(host: str, port: int) -> bool:
    """The web server accepts connections (0.0.0.0 and :: are reached through the loopback)."""
    address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def serve() -> int:
    # Before any child starts: a Ctrl-C or SIGTERM during start-up still stops them all.
    stopping = False

    def request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    env = dict(os.environ)
    port = env.get("PORT", "5000")
    host = env.get("HOST", "127.0.0.1")
    INSTANCE.mkdir(exist_ok=True)
    redis_server = None
    if not env.get("CELERY_BROKER_URL"):
        redis_server = RedisServer(data_dir=INSTANCE / "redis", popen_options=CHILD_OPTIONS).start()
        env["CELERY_BROKER_URL"] = f"{redis_server.url}/0"
        env["CELERY_RESULT_BACKEND"] = f"{redis_server.url}/1"
        print(f"Embedded Redis on {redis_server.url} (set CELERY_BROKER_URL to use your own).", flush=True)

    python = sys.executable
    celery = [python, "-m", "celery", "-A", "wsgi.celery_app"]
    processes = [
        _child([*celery, "worker", "-Q", "transcription,celery", "--loglevel", "INFO",
                "-c", env.get("WORKER_CONCURRENCY", "4")], env),
        _child([*celery, "beat", "--loglevel", "INFO", "-s", str(INSTANCE / "celerybeat-schedule")], env),
        _child([python, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"{host}:{port}",
                "wsgi:app"], env),
    ]
    exit_code = 0
    try:
        announced = False
        while not stopping:
            exited = next((p for p in processes if p.poll() is not None), None)
            if exited is not None:
                print(f"{' '.join(exited.args[2:5])} exited with code {exited.returncode}; stopping.", flush=True)
                exit_code = exited.returncode or 1
                break
            if not announced and _answers(host, int(port)):
                print(f"\nSession transcriber is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
                announced = True
            time.sleep(0.5)
    finally:
        print("Stopping ...", flush=True)
        _stop(processes)
        if redis_server:
            redis_server.stop()
    return exit_code
