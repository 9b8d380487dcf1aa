"""Running a job: call its function, run its callbacks and record the outcome.

Shared by the Celery task that runs jobs on workers and by `is_async=False`
queues. Outcomes are recorded with the scripts in scripts.py, only for the
delivery (attempt) that ran the job.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from . import broker, scripts
from .job import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL, Job, JobStatus, Retry, _current_job, resolve_function
from .serializers import dumps
from .timeouts import JobTimeoutException
from .utils import as_text, utcformat, utcnow

if TYPE_CHECKING:
    from types import TracebackType

    from .callbacks import Callback

log = logging.getLogger(__name__)

ExcInfo = tuple[type[BaseException], BaseException, "TracebackType | None"]


def execute(job: Job, allow_retry: bool = True) -> BaseException | None:
    """Run a started job and record its outcome; the exception it failed with, or None.

    On failure the job is retried while it has retries left (then its status
    is queued or scheduled again), else it is marked failed.
    """
    try:
        try:
            result = _call(job)
        except SoftTimeLimitExceeded as exc:
            raise JobTimeoutException(f"Task exceeded maximum timeout value ({job.timeout} seconds)") from exc
        # A result that cannot be stored fails the job, as an unpicklable one does in RQ.
        encoded_result = dumps(result)
        _run_callback(job.success_callback, job, job.connection, result)
    except Exception:
        exc_info = sys.exc_info()
        record_failure(job, exc_info, allow_retry)
        return exc_info[1]
    _record_success(job, result, encoded_result)
    return None


def perform_sync(job: Job) -> None:
    """Store the job as started and run it in this process (`is_async=False`); failures are recorded, not raised."""
    job._status = JobStatus.STARTED
    job.attempt = 1
    job.started_at = utcnow()
    with job.connection.pipeline(transaction=False) as pipe:
        pipe.delete(job.key)
        pipe.hset(job.key, mapping=job.to_mapping())
        pipe.execute()
    execute(job, allow_retry=False)


def _call(job: Job) -> Any:
    func = job.func
    token = _current_job.set(job)
    try:
        if isinstance(func, Task):
            # A Celery task called directly runs its body here; give it a request
            # so `self.request.id` inside the task is the job id.
            func.push_request(id=job.id, args=list(job.args), kwargs=job.kwargs, hostname=job.worker_name)
            try:
                return func(*job.args, **job.kwargs)
            finally:
                func.pop_request()
        return func(*job.args, **job.kwargs)
    finally:
        _current_job.reset(token)


def _run_callback(callback: Callback | None, *args: Any) -> None:
    # Callbacks run within the job's own Celery time limit; their separate RQ timeout is not enforced.
    if callback is not None:
        resolve_function(callback.name)(*args)


def _record_success(job: Job, result: Any, encoded_result: str) -> None:
    ended_at = utcnow()
    result_ttl = DEFAULT_RESULT_TTL if job.result_ttl is None else job.result_ttl
    released = scripts.FINISH(
        args=[job.id, job.attempt, encoded_result, utcformat(ended_at), result_ttl, time.time()],
        client=job.connection,
    )
    job._status = JobStatus.FINISHED
    job._result = result
    job.ended_at = ended_at
    if released:
        dependents = [dependent for dependent in Job.fetch_many(map(as_text, released), job.connection) if dependent]
        broker.publish(dependents)


def record_failure(job: Job, exc_info: ExcInfo, allow_retry: bool = True) -> None:
    """Run the failure callback, then retry the job if it has retries left, else mark it failed."""
    try:
        _run_callback(job.failure_callback, job, job.connection, *exc_info)
    except Exception:
        log.exception("Failure callback of job %s raised", job.id)
        exc_info = sys.exc_info()  # as in RQ, the callback's error becomes the recorded one
    exc_string = "".join(traceback.format_exception(*exc_info))
    if allow_retry and job.retries_left:
        _retry(job, exc_string)
    else:
        _record_end(job, JobStatus.FAILED, exc_string)


def record_stop(job: Job, reason: str) -> None:
    """The job was stopped while running (send_stop_job_command): run on_stopped and mark it stopped."""
    try:
        _run_callback(job.stopped_callback, job, job.connection)
    except Exception:
        log.exception("Stopped callback of job %s raised", job.id)
    _record_end(job, JobStatus.STOPPED, reason)


def _record_end(job: Job, status: JobStatus, exc_string: str) -> None:
    ended_at = utcnow()
    failure_ttl = DEFAULT_FAILURE_TTL if job.failure_ttl is None else job.failure_ttl
    scripts.FAIL(
        args=[job.id, job.attempt, status.value, exc_string, utcformat(ended_at), failure_ttl, time.time()],
        client=job.connection,
    )
    job._status = status
    job.ended_at = ended_at
    job._exc_info = exc_string


def _retry(job: Job, exc_string: str) -> None:
    interval = Retry.get_interval(job.retries_left, job.retry_intervals)
    job.retries_left -= 1
    ended_at = utcnow()
    due = time.time() + interval if interval else ""
    answer = scripts.RETRY(
        args=[job.id, job.attempt, exc_string, utcformat(ended_at), job.retries_left, due, utcformat(ended_at)],
        client=job.connection,
    )
    job._exc_info = exc_string
    if answer == -1:
        job._status = JobStatus.SCHEDULED
        log.info("Job %s: retry scheduled in %s s, %s left", job.id, interval, job.retries_left)
    elif answer > 0:
        job._status = JobStatus.QUEUED
        job.attempt = answer
        broker.publish([job])
        log.info("Job %s: queued again for a retry, %s left", job.id, job.retries_left)
