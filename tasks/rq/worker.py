"""The Celery side of jobs: the one task every job runs as, and what the worker reports about it.

Jobs run on plain `celery worker -Q <queues>` processes. Each job's message is
the task `run_job` with task id == job id, shown under the job's function name
(the message's `shadow`; Celery's Request takes its `name` from it, which is
what `inspect active`, the worker log and Flower display).

A job can also end outside the task: its pool process killed (WorkerLostError),
its hard time limit reached, or a stop command. The worker's main process
reports those through Celery's task_failure and task_revoked signals, which
record the outcome here so the job does not stay `started` forever.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Task, shared_task
from celery.exceptions import Retry
from celery.signals import task_failure, task_revoked
from celery.worker import state as worker_state
from celery.worker.control import control_command, nok, ok

from . import scripts
from .broker import ATTEMPT_HEADER, RUN_JOB_TASK
from .exceptions import NoSuchJobError
from .execution import execute, record_failure, record_stop
from .extension import flask_app_for, worker_connection
from .job import Job, JobStatus
from .keys import queue_key
from .utils import utcformat, utcnow

log = logging.getLogger(__name__)

# How long after its hard time limit a started job counts as abandoned (its worker died).
ABANDONED_GRACE = 60


@shared_task(name=RUN_JOB_TASK, bind=True, ignore_result=True)
def run_job(self: Task, *args: Any, **kwargs: Any) -> None:
    """Run the job whose id is this task's id (the arguments are the job's, carried for monitoring only)."""
    job = _claim(self)
    if job is None:
        return
    error = execute(job)
    if error is None:
        return
    if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        # Celery reports a retry (state RETRY, "task-retried" event); the job is already queued or scheduled.
        raise Retry(f"{job.retries_left} retries left", exc=error)
    raise error


def _claim(task: Task) -> Job | None:
    """Mark the job started by this delivery, or None when the message is to be skipped."""
    request = task.request
    connection = worker_connection(task.app)
    hard_limit = (request.timelimit or (None, None))[0] or task.app.conf.task_time_limit
    deadline = time.time() + hard_limit + ABANDONED_GRACE if hard_limit else "+inf"
    answer = scripts.CLAIM(
        args=[request.id, getattr(request, ATTEMPT_HEADER, 0), utcformat(utcnow()), request.hostname, deadline],
        client=connection,
    )
    if not answer:
        log.info("Job %s skipped: canceled, removed, deleted, expired or a stale delivery", request.id)
        return None
    return Job.restore(request.id, connection, dict(zip(answer[::2], answer[1::2], strict=True)))


def _running_job(sender: Task, job_id: str, attempt: Any) -> Job | None:
    """The started job a main-process signal is about; None for other tasks and other deliveries."""
    if getattr(sender, "name", None) != RUN_JOB_TASK:
        return None
    try:
        job = Job.fetch(job_id, worker_connection(sender.app))
    except NoSuchJobError:
        return None
    if job.get_status(refresh=False) != JobStatus.STARTED:
        return None
    if attempt is not None and str(attempt) != str(job.attempt):
        return None
    return job


@task_failure.connect
def _record_lost_job(sender: Task | None = None, task_id: str | None = None,
                     exception: BaseException | None = None, **_: Any) -> None:
    """The pool process died under the job, or its hard time limit killed it: record a failure."""
    if not isinstance(exception, (WorkerLostError, TimeLimitExceeded)):
        return  # raised inside the job: already recorded by execute()
    # For WorkerLostError Celery pushes the request; for a hard time limit it does not.
    attempt = getattr(sender.request, ATTEMPT_HEADER, None) if sender is not None else None
    job = _running_job(sender, task_id, attempt)
    if job is None:
        return
    with flask_app_for(sender.app).app_context():
        record_failure(job, (type(exception), exception, None))


@task_revoked.connect
def _record_revoked_job(sender: Task | None = None, request: Any = None, terminated: bool = False,
                        expired: bool = False, **_: Any) -> None:
    """A job's message was revoked: stopped while running, expired (ttl) or revoked before it ran."""
    if getattr(sender, "name", None) != RUN_JOB_TASK or request is None:
        return
    attempt = getattr(request, ATTEMPT_HEADER, None)
    connection = worker_connection(sender.app)
    if terminated:
        job = _running_job(sender, request.id, attempt)
        if job is not None:
            with flask_app_for(sender.app).app_context():
                record_stop(job, "Stopped by send_stop_job_command")
    elif expired:
        # The ttl passed before the job started: its hash has expired; drop its id from the list.
        if not Job.exists(request.id, connection):
            queue_name = (request.delivery_info or {}).get("routing_key")
            if queue_name:
                connection.lrem(queue_key(queue_name), 0, request.id)
    elif attempt is not None:
        # Revoked with Celery's own tools (`celery revoke`): the job will never run, so it is canceled.
        scripts.CANCEL(args=[request.id, time.time(), attempt], client=connection)


@control_command(args=[("job_id", str)], signature="<job_id>")
def rq_stop_job(state: Any, job_id: str) -> dict:
    """Stop the job if this worker is running it (the worker side of send_stop_job_command).

    Unlike `revoke --terminate`, this leaves no id in the worker's revoked set,
    so the job can be requeued later under the same id.
    """
    for request in list(worker_state.active_requests):
        if request.id == job_id:
            request.terminate(state.consumer.pool, signal=signal.SIGTERM)
            return ok(f"stopping job {job_id}")
    return nok(f"job {job_id} is not running here")
