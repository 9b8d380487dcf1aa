"""Jobs run by a real `celery worker -Q default,high,low`: outcomes, registries, retries, callbacks,
dependencies, time limits, stops, scheduling and what Celery's own tools show."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest

from tasks.rq import Callback, Queue, Retry, get_current_job, requeue_job, send_stop_job_command
from tasks.rq.decorators import job as job_decorator
from tasks.rq.exceptions import InvalidJobOperation, JobFailedError, NoSuchJobError
from tasks.rq.job import Job, JobStatus
from tasks.rq.results import Result
from tests.jobs_api import jobs
from tests.support.worker import wait_for

pytestmark = pytest.mark.usefixtures("jobs_worker")


@pytest.fixture()
def queue(app, connection) -> Queue:
    return Queue("default", connection=connection)


def wait_for_status(job: Job, *statuses: JobStatus, timeout: float = 15) -> JobStatus:
    return wait_for(lambda: job.get_status() in statuses and job.get_status(), timeout,
                    message=f"job {job.id} to become {'/'.join(statuses)}")


def callbacks_of(job: Job) -> list[str]:
    return [entry.decode() for entry in job.connection.lrange(f"callbacks:{job.id}", 0, -1)]


def test_job_runs_and_finishes(queue):
    job = queue.enqueue(jobs.add, 2, 3)
    assert job.get(timeout=15) == 5
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED and job.is_finished
    assert job.return_value() == job.result == 5
    assert job.started_at.tzinfo is not None and job.started_at <= job.ended_at
    assert job.worker_name.startswith("jobs-api@")
    assert job.id in queue.finished_job_registry
    assert job.id not in queue.started_job_registry
    latest = job.latest_result()
    assert latest.type == Result.Type.SUCCESSFUL and latest.return_value == 5
    assert (job.state, job.info, job.ready(), job.successful()) == ("SUCCESS", 5, True, True)
    # result_ttl defaults to 500 s, as in RQ
    assert 490 <= queue.connection.ttl(job.key) <= 500
    finished = queue.finished_job_registry
    assert job.id in finished.get_job_ids() and finished.count >= 1
    assert finished.remove(job) == 1
    assert job.id not in finished and Job.exists(job.id, queue.connection)


def test_failure_is_recorded_and_failed_jobs_can_be_requeued(queue, connection):
    counter = f"calls:{uuid.uuid4()}"
    job = queue.enqueue(jobs.fail_until, counter, 1, failure_ttl=300)
    wait_for_status(job, JobStatus.FAILED)
    assert "RuntimeError: call 1 fails" in job.exc_info
    assert job.id in queue.failed_job_registry
    assert job.latest_result().type == Result.Type.FAILED
    assert (job.state, job.failed()) == ("FAILURE", True)
    assert 290 <= connection.ttl(job.key) <= 300
    with pytest.raises(JobFailedError, match="RuntimeError: call 1 fails"):
        job.get(timeout=1)

    requeued = requeue_job(job.id, connection)
    assert requeued.get_status() in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.FINISHED)
    assert requeued.get(timeout=15) == 2
    assert job.id not in queue.failed_job_registry
    with pytest.raises(InvalidJobOperation):
        job.requeue()  # finished now, not failed


def test_failed_registry_requeue(queue):
    counter = f"calls:{uuid.uuid4()}"
    job = queue.enqueue(jobs.fail_until, counter, 1)
    wait_for_status(job, JobStatus.FAILED)
    queue.failed_job_registry.requeue(job.id)
    assert job.get(timeout=15) == 2


def test_result_ttl_zero_deletes_and_minus_one_keeps(queue, connection):
    gone = queue.enqueue(jobs.add, 1, 1, result_ttl=0)
    kept = queue.enqueue(jobs.add, 2, 2, result_ttl=-1)
    assert kept.get(timeout=15) == 4
    wait_for(lambda: not Job.exists(gone.id, connection), 15, message="result_ttl=0 job to be deleted")
    assert connection.ttl(kept.key) == -1
    assert queue.finished_job_registry.get_expiration_time(kept) is None


def test_get_current_job_and_meta_while_running(queue, connection):
    gate = f"gate:{uuid.uuid4()}"
    job = queue.enqueue(jobs.report_progress, 4, gate)
    wait_for(lambda: Job.fetch(job.id, connection).meta.get("progress") == 100, 15,
             message="the job to save its progress")
    assert job.get_status() == JobStatus.STARTED
    assert job.id in queue.started_job_registry
    assert job.info == {"progress": 100}  # AsyncResult.info while running: the meta
    connection.set(gate, 1, ex=60)
    assert job.get(timeout=15) == "done"
    assert Job.fetch(job.id, connection).meta == {"progress": 100}  # survives completion
    assert get_current_job() is None


def test_job_runs_inside_the_flask_app_context(queue):
    result = queue.enqueue(jobs.who_am_i).get(timeout=15)
    assert result["app"] == "app" and result["origin"] == "default"
    assert result["pid"] != os.getpid()


def test_celery_task_enqueued_as_a_job(queue, connection):
    job = queue.enqueue(jobs.multiply_task, 3, 4, scale=2)
    assert job.get(timeout=15) == {"product": 24, "request_id": job.id, "job_id": job.id}
    assert Job.fetch(job.id, connection).meta == {"seen_by_task": True}


def test_inspect_active_shows_the_function_name(app, queue):
    job = queue.enqueue(jobs.sleep_for, 1.5)
    wait_for_status(job, JobStatus.STARTED)
    active = app.extensions["celery"].control.inspect(timeout=1).active() or {}
    entries = [entry for worker_tasks in active.values() for entry in worker_tasks if entry["id"] == job.id]
    assert entries and entries[0]["name"] == "tests.jobs_api.jobs.sleep_for"
    assert entries[0]["delivery_info"]["routing_key"] == "default"
    assert job.get(timeout=15) == 1.5


def test_retries_immediate_and_with_interval(queue):
    immediate = queue.enqueue(jobs.fail_until, f"calls:{uuid.uuid4()}", 2, retry=Retry(max=2))
    assert immediate.get(timeout=15) == 3
    assert Job.fetch(immediate.id, queue.connection).retries_left == 0

    spaced = queue.enqueue(jobs.fail_until, f"calls:{uuid.uuid4()}", 1, retry=Retry(max=1, interval=[1]))
    wait_for_status(spaced, JobStatus.SCHEDULED)
    assert spaced.id in queue.scheduled_job_registry
    assert "RuntimeError: call 1 fails" in spaced.exc_info
    assert spaced.get(timeout=15) == 2

    exhausted = queue.enqueue(jobs.fail_until, f"calls:{uuid.uuid4()}", 5, retry=Retry(max=1))
    wait_for_status(exhausted, JobStatus.FAILED)
    assert "call 2 fails" in exhausted.exc_info


def test_callbacks(queue):
    succeeded = queue.enqueue(jobs.add, 1, 2, on_success=Callback(jobs.record_success),
                              on_failure=jobs.record_failure)
    failed = queue.enqueue(jobs.fail, "nope", on_success=jobs.record_success,
                           on_failure=Callback("tests.jobs_api.jobs.record_failure", timeout=10))
    assert succeeded.get(timeout=15) == 3
    wait_for_status(failed, JobStatus.FAILED)
    assert callbacks_of(succeeded) == ["success:3"]
    assert callbacks_of(failed) == ["failure:ValueError:nope"]


def test_dependencies(queue, connection):
    first = queue.enqueue(jobs.sleep_for, 0.5)
    second = queue.enqueue(jobs.add, 1, 1, depends_on=first)
    third = Queue("high", connection=connection).enqueue(jobs.add, 2, 2, depends_on=[first.id, second])
    assert second.get_status() == JobStatus.DEFERRED
    assert second.id in queue.deferred_job_registry
    assert second.dependency_ids == [first.id]
    assert third.get(timeout=15) == 4
    assert second.get_status() == JobStatus.FINISHED

    failing = queue.enqueue(jobs.fail)
    blocked = queue.enqueue(jobs.add, 1, 1, depends_on=failing)
    wait_for_status(failing, JobStatus.FAILED)
    assert blocked.get_status() == JobStatus.DEFERRED  # a failed dependency never releases it

    done = queue.enqueue(jobs.add, 0, 0)
    done.get(timeout=15)
    assert queue.enqueue(jobs.add, 5, 5, depends_on=done).get(timeout=15) == 10  # already met: queued at once

    parent_id = f"parent-{uuid.uuid4().hex[:8]}"
    parent, child = queue.enqueue_many([
        Queue.prepare_data(jobs.sleep_for, (0.3,), job_id=parent_id),
        Queue.prepare_data(jobs.add, (3, 4), depends_on=parent_id),
    ])
    assert child.get_status() == JobStatus.DEFERRED
    assert child.get(timeout=15) == 7 and parent.get_status() == JobStatus.FINISHED


def test_soft_time_limit_fails_the_job_with_a_timeout(queue):
    job = queue.enqueue(jobs.sleep_for, 10, job_timeout=1)
    wait_for_status(job, JobStatus.FAILED, timeout=10)
    assert "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)" in job.exc_info


def test_killed_pool_process_fails_the_job(queue):
    job = queue.enqueue(jobs.kill_own_process, on_failure=jobs.record_failure)
    wait_for_status(job, JobStatus.FAILED)
    assert "WorkerLostError" in job.exc_info
    assert job.id not in queue.started_job_registry
    assert callbacks_of(job) and callbacks_of(job)[0].startswith("failure:WorkerLostError")


def test_ttl_discards_a_job_not_started_in_time(connection):
    queue = Queue("low", connection=connection)
    blockers = [queue.enqueue(jobs.sleep_for, 1.5) for _ in range(2)]  # both pool processes busy
    late = queue.enqueue(jobs.add, 1, 1, ttl=1)
    for blocker in blockers:
        blocker.get(timeout=15)
    wait_for(lambda: late.id not in queue.job_ids, 10, message="the expired job to leave the queue")
    with pytest.raises(NoSuchJobError):
        Job.fetch(late.id, connection)


def test_celery_revoke_of_a_queued_job_cancels_it(app, connection):
    queue = Queue("low", connection=connection)
    blockers = [queue.enqueue(jobs.sleep_for, 1) for _ in range(2)]  # both pool processes busy
    job = queue.enqueue(jobs.add, 1, 1)
    app.extensions["celery"].control.revoke(job.id)
    for blocker in blockers:
        blocker.get(timeout=15)
    wait_for_status(job, JobStatus.CANCELED)
    assert job.id in queue.canceled_job_registry and job.id not in queue.job_ids


def test_stop_a_running_job_then_requeue_it(queue, connection):
    gate = f"gate:{uuid.uuid4()}"
    job = queue.enqueue(jobs.report_progress, 1, gate, on_stopped=jobs.record_stopped)
    with pytest.raises(InvalidJobOperation):
        send_stop_job_command(connection, queue.enqueue_in(timedelta(hours=1), jobs.add, 1, 1).id)
    wait_for_status(job, JobStatus.STARTED)
    send_stop_job_command(connection, job.id)
    wait_for_status(job, JobStatus.STOPPED)
    assert job.id in queue.failed_job_registry
    assert callbacks_of(job) == ["stopped"]
    assert job.latest_result().type == Result.Type.STOPPED

    # Stopping leaves no revoked task id in the worker: the same job runs again.
    connection.set(gate, 1, ex=60)
    assert job.requeue().get(timeout=15) == "done"


def test_scheduled_job_runs_once_when_due(queue, connection):
    counter = f"calls:{uuid.uuid4()}"
    job = queue.enqueue_in(timedelta(seconds=1), jobs.fail_until, counter, 0)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.get(timeout=15) == 1
    assert int(connection.get(counter)) == 1


def test_job_decorator_delay(connection):
    add = job_decorator("high", connection=connection, result_ttl=60)(jobs.add)
    delayed = add.delay(20, 22)
    assert delayed.origin == "high"
    assert delayed.get(timeout=15) == 42
    assert Job.fetch(delayed.id, connection).result_ttl == 60
    assert add.enqueue(1, 2, job_id="decorated-1").id == "decorated-1"


def test_is_async_false_runs_in_the_caller(app, connection):
    queue = Queue("default", connection=connection, is_async=False)
    with app.app_context():
        ran_here = queue.enqueue(jobs.who_am_i)
        failed = queue.enqueue(jobs.fail, "sync")  # recorded, not raised
    assert ran_here.get_status() == JobStatus.FINISHED
    assert ran_here.return_value()["pid"] == os.getpid()
    assert failed.get_status() == JobStatus.FAILED and "ValueError: sync" in failed.exc_info
    assert queue.count == 0 or ran_here.id not in queue.job_ids
