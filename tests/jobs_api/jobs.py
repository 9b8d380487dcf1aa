"""Job functions for the tests; workers import them as `tests.jobs_api.jobs.<name>`."""

from __future__ import annotations

import os
import time

from celery import shared_task
from flask import current_app

from tasks.rq import get_current_job


def add(x: int, y: int) -> int:
    return x + y


def echo(*args, **kwargs) -> dict:
    return {"args": list(args), "kwargs": kwargs}


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def report_progress(steps: int, gate_key: str | None = None) -> str:
    """Write progress to meta step by step; with `gate_key`, wait for that Redis key before finishing."""
    job = get_current_job()
    for step in range(1, steps + 1):
        job.meta["progress"] = int(100 * step / steps)
        job.save_meta()
    if gate_key:
        deadline = time.monotonic() + 20
        while not job.connection.exists(gate_key) and time.monotonic() < deadline:
            time.sleep(0.02)
    return "done"


def who_am_i() -> dict:
    """Where the job ran: its own id, the worker process and the Flask app it ran inside."""
    job = get_current_job()
    return {"job_id": job.id, "pid": os.getpid(), "app": current_app.name, "origin": job.origin}


def fail_until(counter_key: str, successes_after: int) -> int:
    """Fail until this has been called `successes_after` times (counted in Redis)."""
    job = get_current_job()
    calls = job.connection.incr(counter_key)
    if calls <= successes_after:
        raise RuntimeError(f"call {calls} fails")
    return calls


def kill_own_process() -> None:
    os.kill(os.getpid(), 9)


def ignore_timeout(seconds: float) -> None:
    """Catch the soft time limit and keep running, so only the hard limit ends the job."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except Exception:
            pass


def record_success(job, connection, result) -> None:
    connection.rpush(f"callbacks:{job.id}", f"success:{result}")


def record_failure(job, connection, exc_type, exc_value, tb) -> None:
    connection.rpush(f"callbacks:{job.id}", f"failure:{exc_type.__name__}:{exc_value}")


def record_stopped(job, connection) -> None:
    connection.rpush(f"callbacks:{job.id}", "stopped")


@shared_task(name="tests.jobs_api.jobs.multiply_task", bind=True)
def multiply_task(self, x: int, y: int, scale: int = 1) -> dict:
    """A Celery task enqueued as a job: get_current_job() and self.request.id both see the job."""
    job = get_current_job()
    job.meta["seen_by_task"] = True
    job.save_meta()
    return {"product": x * y * scale, "request_id": self.request.id, "job_id": job.id}
