"""Queue and Job bookkeeping, on queues no worker consumes (the jobs stay queued)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tasks.rq import Queue, Retry, cancel_job, requeue_job
from tasks.rq.broker import ATTEMPT_HEADER, RUN_JOB_TASK
from tasks.rq.exceptions import (
    DuplicateJobError,
    InvalidJobOperation,
    NoSuchJobError,
    TimeoutFormatError,
)
from tasks.rq.job import Job, JobStatus
from tests.jobs_api import jobs


@pytest.fixture()
def queue(app, connection, idle_queue_name) -> Queue:
    queue = Queue(idle_queue_name, connection=connection)
    yield queue
    queue.delete()


def broker_messages(broker, queue_name: str) -> list[dict]:
    """The Celery messages waiting in the broker's list for this queue, oldest first."""
    return [json.loads(raw) for raw in reversed(broker.lrange(queue_name, 0, -1))]


def test_queue_needs_a_connection():
    with pytest.raises(TypeError):
        Queue("default")


def test_enqueue_by_function_dotted_path_and_celery_task(queue):
    by_function = queue.enqueue(jobs.add, 1, 2)
    by_path = queue.enqueue("tests.jobs_api.jobs.add", 3, y=4)
    by_task = queue.enqueue(jobs.multiply_task, 2, 3, scale=10)

    assert by_function.func_name == "tests.jobs_api.jobs.add"
    assert by_path.func_name == "tests.jobs_api.jobs.add"
    assert by_task.func_name == "tests.jobs_api.jobs.multiply_task"
    assert by_function.description == "tests.jobs_api.jobs.add(1, 2)"
    assert by_path.description == "tests.jobs_api.jobs.add(3, y=4)"
    fetched = Job.fetch(by_task.id, connection=queue.connection)
    assert (fetched.args, fetched.kwargs) == ((2, 3), {"scale": 10})
    assert fetched.get_status() == JobStatus.QUEUED
    assert fetched.origin == queue.name


def test_each_job_is_a_celery_message_on_the_queue_of_the_same_name(queue, broker):
    job = queue.enqueue(jobs.add, 1, 2, job_timeout=30, ttl=60)

    [message] = broker_messages(broker, queue.name)
    headers = message["headers"]
    assert headers["id"] == job.id
    assert headers["task"] == RUN_JOB_TASK
    assert headers["shadow"] == "tests.jobs_api.jobs.add"
    assert headers["timelimit"] == [35, 30]  # hard, soft: job_timeout is the soft limit
    assert headers["expires"] is not None  # ttl
    assert headers[ATTEMPT_HEADER] == 1
    assert message["properties"]["delivery_info"]["routing_key"] == queue.name


def test_options_explicit_args_and_enqueue_call(queue):
    job = queue.enqueue(jobs.echo, args=(1, 2), kwargs={"job_id": "passed-through"}, job_timeout="1h",
                        result_ttl=10, failure_ttl="2m", description="custom", meta={"owner": 7})
    assert job.args == (1, 2) and job.kwargs == {"job_id": "passed-through"}
    fetched = Job.fetch(job.id, queue.connection)
    assert (fetched.timeout, fetched.result_ttl, fetched.failure_ttl) == (3600, 10, 120)
    assert fetched.description == "custom"
    assert fetched.meta == {"owner": 7}

    called = queue.enqueue_call(jobs.add, args=[5, 6], timeout=20)
    assert Job.fetch(called.id, queue.connection).timeout == 20
    assert Queue(queue.name, connection=queue.connection, default_timeout="3m").enqueue(jobs.add, 1, 1).timeout == 180

    with pytest.raises(TypeError):
        queue.enqueue(jobs.echo, 1, args=(2,))
    with pytest.raises(TimeoutFormatError):
        queue.enqueue(jobs.add, 1, 2, job_timeout="soon")
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 2, job_timeout=0)
    with pytest.raises(ValueError):
        queue.enqueue(jobs.add, 1, 2, ttl=0)


def test_job_ids_are_validated_and_kept(queue):
    job = queue.enqueue(jobs.add, 1, 2, job_id="export_42-a")
    assert job.id == job.get_id() == "export_42-a"
    assert Job.exists("export_42-a", queue.connection)
    for bad in ("has space", "colon:s", "slash/s", "dot.s", ""):
        with pytest.raises(ValueError):
            queue.enqueue(jobs.add, 1, 2, job_id=bad)
    with pytest.raises(DuplicateJobError):
        queue.enqueue(jobs.add, 1, 2, job_id="export_42-a", unique=True)


def test_functions_a_worker_cannot_import_are_refused(queue):
    with pytest.raises(ValueError):
        queue.enqueue(lambda: None)


def test_timestamps_are_timezone_aware_utc(queue):
    before = datetime.now(UTC)
    job = Job.fetch(queue.enqueue(jobs.add, 1, 2).id, queue.connection)
    assert job.created_at.tzinfo is UTC and job.enqueued_at.tzinfo is UTC
    assert before - timedelta(seconds=1) <= job.enqueued_at <= datetime.now(UTC)
    assert job.started_at is None and job.ended_at is None


def test_count_ids_positions_remove_and_at_front(queue):
    first, second, third = (queue.enqueue(jobs.add, n, n) for n in range(3))
    urgent = queue.enqueue(jobs.add, 9, 9, at_front=True)

    assert queue.count == len(queue) == 4
    assert queue.job_ids == [urgent.id, first.id, second.id, third.id]
    assert [job.id for job in queue.jobs] == queue.job_ids
    assert queue.get_job_ids(offset=1, length=2) == [first.id, second.id]
    assert queue.get_job_position(second) == 2
    assert second.get_position() == 2

    assert queue.remove(second) == 1
    assert queue.get_job_position(second.id) is None
    assert queue.job_ids == [urgent.id, first.id, third.id]
    assert Job.exists(second.id, queue.connection)  # removed from the queue, not deleted


def test_fetch_job_fetch_many_and_missing_jobs(queue, connection):
    job = queue.enqueue(jobs.add, 1, 2)
    other = Queue(queue.name + "-other", connection=connection)
    assert queue.fetch_job(job.id) == job
    assert other.fetch_job(job.id) is None
    assert Job.fetch_many([job.id, "no-such-job"], connection) == [job, None]
    with pytest.raises(NoSuchJobError):
        Job.fetch("no-such-job", connection)
    assert not Job.exists("no-such-job", connection)
    other.delete()


def test_empty_deletes_the_queued_jobs(queue):
    queued = [queue.enqueue(jobs.add, n, n) for n in range(3)]
    assert queue.empty() == 3
    assert queue.count == 0
    assert not any(Job.exists(job.id, queue.connection) for job in queued)


def test_queue_all_and_delete(queue, connection):
    queue.enqueue(jobs.add, 1, 2)
    assert queue in Queue.all(connection)
    queue.delete()
    assert queue not in Queue.all(connection)


def test_enqueue_many_with_prepare_data(queue):
    datas = [Queue.prepare_data(jobs.add, (n, n), job_id=f"many-{n}", meta={"n": n}) for n in range(5)]
    enqueued = queue.enqueue_many(datas)
    assert [job.id for job in enqueued] == queue.job_ids == [f"many-{n}" for n in range(5)]
    assert Job.fetch("many-3", queue.connection).meta == {"n": 3}
    with pytest.raises(ValueError):
        queue.enqueue_many([Queue.prepare_data(jobs.add, (1, 1), job_id="twice")] * 2)


def test_cancel_twice_raises(queue):
    job = queue.enqueue(jobs.add, 1, 2)
    job.cancel()
    assert job.get_status() == JobStatus.CANCELED
    assert job.is_canceled
    assert job.id in queue.canceled_job_registry
    assert queue.count == 0
    with pytest.raises(InvalidJobOperation):
        job.cancel()
    with pytest.raises(InvalidJobOperation):
        cancel_job(job.id, queue.connection)


def test_requeue_only_from_failed(queue):
    job = queue.enqueue(jobs.add, 1, 2)
    with pytest.raises(InvalidJobOperation):
        job.requeue()
    with pytest.raises(InvalidJobOperation):
        requeue_job(job.id, queue.connection)
    with pytest.raises(InvalidJobOperation):
        queue.failed_job_registry.requeue(job.id)


def test_meta_round_trip(queue, connection):
    job = queue.enqueue(jobs.add, 1, 2, meta={"step": "queued"})
    job.meta["progress"] = 10
    job.save_meta()
    assert Job.fetch(job.id, connection).get_meta() == {"step": "queued", "progress": 10}
    job.delete()
    job.save_meta()  # a deleted job stays deleted
    assert not Job.exists(job.id, connection)


def test_delete_removes_job_queue_entry_and_registry_entries(queue):
    job = queue.enqueue(jobs.add, 1, 2)
    job.delete()
    assert queue.count == 0
    with pytest.raises(NoSuchJobError):
        Job.fetch(job.id, queue.connection)
    with pytest.raises(InvalidJobOperation):
        job.get_status()


def test_scheduled_jobs_wait_in_the_registry_not_the_broker(queue, broker):
    due = datetime.now(UTC) + timedelta(hours=2)
    at_job = queue.enqueue_at(due, jobs.add, 1, 2)
    in_job = queue.enqueue_in(timedelta(minutes=5), jobs.add, 3, 4, job_id="later")

    for job in (at_job, in_job):
        assert job.get_status() == JobStatus.SCHEDULED
        assert job.id in queue.scheduled_job_registry
    assert abs(queue.scheduled_job_registry.get_scheduled_time(at_job) - due) < timedelta(milliseconds=1)
    assert queue.count == 0
    # No ETA message in the broker: nothing the visibility timeout could deliver twice.
    assert broker_messages(broker, queue.name) == []


def test_celery_style_answers_while_queued(queue):
    job = queue.enqueue(jobs.add, 1, 2)
    assert job.state == "PENDING"
    assert not job.ready() and not job.successful() and not job.failed()
    with pytest.raises(TimeoutError):
        job.get(timeout=0.1)
    assert Job(id="never-created", connection=queue.connection).state == "PENDING"


def test_retry_validation_and_intervals():
    with pytest.raises(ValueError):
        Retry(max=0)
    with pytest.raises(ValueError):
        Retry(max=2, interval=[1, -1])
    retry = Retry(max=3, interval=[1, 2, 4])
    assert [Retry.get_interval(left, retry.intervals) for left in (3, 2, 1)] == [1, 2, 4]
    assert Retry.get_interval(2, Retry(max=2, interval=5).intervals) == 5
