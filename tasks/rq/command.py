"""Commands to workers: stopping a running job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celery import current_app as current_celery_app

from .exceptions import InvalidJobOperation
from .job import Job, JobStatus

if TYPE_CHECKING:
    from redis import Redis


def send_stop_job_command(connection: Redis, job_id: str) -> None:
    """Ask the workers to stop the job now; it ends `stopped` and its on_stopped callback runs.

    InvalidJobOperation if the job is not running. The command is broadcast
    through Celery's remote control; the worker running the job terminates it.
    """
    job = Job.fetch(job_id, connection)
    if job.get_status(refresh=False) != JobStatus.STARTED:
        raise InvalidJobOperation(f"Job {job_id} is not currently executing")
    current_celery_app.control.broadcast("rq_stop_job", arguments={"job_id": job_id})
