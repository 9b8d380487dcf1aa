"""A whole worker killed mid-job: the job stays `started` until something notices it was abandoned."""

from __future__ import annotations

import time
import uuid

from tasks.rq import Queue
from tasks.rq.job import Job, JobStatus
from tests.jobs_api import jobs
from tests.support.worker import celery_worker, wait_for


def test_job_of_a_killed_worker_is_failed_as_abandoned(app, connection, test_env, runtime_dir):
    queue = Queue("doomed", connection=connection)
    worker = celery_worker(test_env, runtime_dir / "doomed-worker.log", queues="doomed", concurrency=1,
                           hostname="doomed@%h").start()
    try:
        job = queue.enqueue(jobs.report_progress, 1, f"gate:{uuid.uuid4()}", on_failure=jobs.record_failure)
        wait_for(lambda: job.get_status() == JobStatus.STARTED, 15, message="the job to start")
    finally:
        worker.kill()  # SIGKILL to the main process and its pool: nothing gets to record anything

    assert job.get_status() == JobStatus.STARTED
    registry = queue.started_job_registry
    assert job.id in registry
    expires_at = registry.get_expiration_time(job).timestamp()
    # Before its hard time limit (+ grace) has passed, a started job is not presumed dead...
    registry.cleanup()
    assert job.get_status() == JobStatus.STARTED
    # ...after it, the next registry sweep (a worker's scheduler, or count()) fails it.
    registry.cleanup(timestamp=expires_at + 1)
    assert job.get_status() == JobStatus.FAILED
    assert "AbandonedJobError" in Job.fetch(job.id, connection).exc_info
    assert job.id in queue.failed_job_registry and job.id not in registry
    assert [entry.decode() for entry in connection.lrange(f"callbacks:{job.id}", 0, -1)][0].startswith(
        "failure:AbandonedJobError")

    # Requeued, it gets a new attempt number: the dead worker's message, if the broker ever
    # delivers it again, is skipped as stale.
    requeued = job.requeue()
    assert requeued.attempt == 2 and requeued.get_status() == JobStatus.QUEUED
    assert time.time() < expires_at  # the sweep above ran on a simulated clock
    queue.empty()
