"""Queues: RQ's Queue API; jobs are stored in Redis and run by Celery workers.

Bookkeeping: each queue keeps RQ's list of queued job ids (`rq:queue:<name>`)
next to the Celery message, written in the same round trip as the job itself.
Counting, listing, positions and removal read that list, never the broker, so
they are cheap (LLEN, LRANGE, LPOS, LREM) and work the same whether Celery's
broker is Redis or RabbitMQ. The worker takes the id off the list when it
starts the job; a message whose job is no longer listed (removed, emptied,
canceled, deleted) is acknowledged and skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from . import broker, scripts
from .callbacks import Callback
from .exceptions import DuplicateJobError, NoSuchJobError
from .execution import perform_sync
from .job import Job, JobStatus, Retry
from .keys import QUEUE_PREFIX, QUEUES_KEY, job_key, queue_key
from .registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from .utils import as_text, parse_timeout, utcformat, utcnow

if TYPE_CHECKING:
    from redis import Redis

FunctionReference = Callable[..., Any] | str

# Keyword arguments `enqueue` keeps for itself; every other one goes to the job's function.
_OPTION_NAMES = (
    "job_timeout", "description", "result_ttl", "ttl", "failure_ttl", "depends_on", "job_id", "at_front",
    "meta", "retry", "on_success", "on_failure", "on_stopped", "unique",
)


class EnqueueData(NamedTuple):
    """One job for `enqueue_many`, as built by `Queue.prepare_data`."""

    func: FunctionReference
    args: tuple | list | None
    kwargs: dict | None
    timeout: int | str | None
    result_ttl: int | str | None
    ttl: int | str | None
    failure_ttl: int | str | None
    description: str | None
    depends_on: Any
    job_id: str | None
    at_front: bool
    meta: dict | None
    retry: Retry | None
    on_success: Callback | Callable | None
    on_failure: Callback | Callable | None
    on_stopped: Callback | Callable | None


class Queue:
    """A named queue of jobs; its jobs run on Celery workers consuming the Celery queue of the same name."""

    DEFAULT_TIMEOUT = 180

    def __init__(self, name: str = "default", connection: Redis | None = None,
                 default_timeout: int | str | None = None, is_async: bool = True):
        if connection is None:
            raise TypeError("Queue() missing 1 required argument: 'connection'")
        self.name = name
        self.connection = connection
        self._default_timeout = parse_timeout(default_timeout) or self.DEFAULT_TIMEOUT
        self._is_async = is_async

    @classmethod
    def all(cls, connection: Redis) -> list[Queue]:
        """Every queue a job has been enqueued on, by name."""
        keys = sorted(as_text(key) for key in connection.smembers(QUEUES_KEY))
        return [cls(key[len(QUEUE_PREFIX):], connection=connection) for key in keys]

    @property
    def key(self) -> str:
        return queue_key(self.name)

    @property
    def is_async(self) -> bool:
        return self._is_async

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Queue) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # Reading the queue

    @property
    def count(self) -> int:
        """How many jobs are queued (not yet started)."""
        return self.connection.llen(self.key)

    def is_empty(self) -> bool:
        return self.count == 0

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """Ids of queued jobs, next first; `length` -1 means all from `offset`."""
        if length == 0:
            return []
        end = offset + length - 1 if length > 0 else -1
        return [as_text(job_id) for job_id in self.connection.lrange(self.key, offset, end)]

    @property
    def job_ids(self) -> list[str]:
        return self.get_job_ids()

    def get_jobs(self, offset: int = 0, length: int = -1) -> list[Job]:
        """The queued jobs, next first (ids whose job no longer exists are left out)."""
        job_ids = self.get_job_ids(offset, length)
        return [job for job in Job.fetch_many(job_ids, self.connection) if job is not None]

    @property
    def jobs(self) -> list[Job]:
        return self.get_jobs()

    def fetch_job(self, job_id: str) -> Job | None:
        """This queue's job with that id; None if it does not exist or belongs to another queue."""
        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            self.remove(job_id)
            return None
        return job if job.origin == self.name else None

    def get_job_position(self, job_or_id: Job | str) -> int | None:
        """The job's index in the queue (0 is next), or None when it is not queued."""
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        return self.connection.lpos(self.key, job_id)

    # Changing the queue

    def remove(self, job_or_id: Job | str) -> int:
        """Take a job off the queue (it stays stored); its Celery message will be skipped."""
        job_id = job_or_id.id if isinstance(job_or_id, Job) else job_or_id
        return self.connection.lrem(self.key, 1, job_id)

    def empty(self) -> int:
        """Delete every queued job; returns how many. Their Celery messages will be skipped."""
        return scripts.EMPTY(args=[self.name], client=self.connection)

    def delete(self, delete_jobs: bool = True) -> None:
        """Forget the queue (and, by default, delete its queued jobs)."""
        if delete_jobs:
            self.empty()
        with self.connection.pipeline() as pipe:
            pipe.srem(QUEUES_KEY, self.key)
            pipe.delete(self.key)
            pipe.execute()

    # Registries

    @property
    def started_job_registry(self) -> StartedJobRegistry:
        return StartedJobRegistry(self.name, self.connection)

    @property
    def finished_job_registry(self) -> FinishedJobRegistry:
        return FinishedJobRegistry(self.name, self.connection)

    @property
    def failed_job_registry(self) -> FailedJobRegistry:
        return FailedJobRegistry(self.name, self.connection)

    @property
    def deferred_job_registry(self) -> DeferredJobRegistry:
        return DeferredJobRegistry(self.name, self.connection)

    @property
    def scheduled_job_registry(self) -> ScheduledJobRegistry:
        return ScheduledJobRegistry(self.name, self.connection)

    @property
    def canceled_job_registry(self) -> CanceledJobRegistry:
        return CanceledJobRegistry(self.name, self.connection)

    # Enqueueing

    def enqueue(self, f: FunctionReference, *args: Any, **kwargs: Any) -> Job:
        """Queue a call of `f` (a function, a Celery task or a dotted path) with these arguments.

        The keyword arguments RQ reserves (job_timeout, result_ttl, ttl,
        failure_ttl, description, depends_on, job_id, at_front, meta, retry,
        on_success, on_failure, on_stopped, and args=/kwargs= for explicit
        arguments) configure the job; all others are passed to `f`.
        """
        options, args, kwargs = _split_options(args, kwargs)
        return self.enqueue_call(f, args=args, kwargs=kwargs, **options)

    def enqueue_call(
        self,
        func: FunctionReference,
        args: tuple | list | None = None,
        kwargs: dict | None = None,
        timeout: int | str | None = None,
        result_ttl: int | str | None = None,
        ttl: int | str | None = None,
        failure_ttl: int | str | None = None,
        description: str | None = None,
        depends_on: Any = None,
        job_id: str | None = None,
        at_front: bool = False,
        meta: dict | None = None,
        retry: Retry | None = None,
        on_success: Callback | Callable | None = None,
        on_failure: Callback | Callable | None = None,
        on_stopped: Callback | Callable | None = None,
        unique: bool = False,
    ) -> Job:
        """Queue a call of `func` with explicit `args` and `kwargs` (RQ's enqueue_call)."""
        job = self.create_job(
            func, args, kwargs, timeout=timeout, result_ttl=result_ttl, ttl=ttl, failure_ttl=failure_ttl,
            description=description, depends_on=depends_on, job_id=job_id, at_front=at_front, meta=meta,
            retry=retry, on_success=on_success, on_failure=on_failure, on_stopped=on_stopped,
        )
        return self.enqueue_job(job, unique=unique)

    def create_job(
        self,
        func: FunctionReference,
        args: tuple | list | None = None,
        kwargs: dict | None = None,
        timeout: int | str | None = None,
        result_ttl: int | str | None = None,
        ttl: int | str | None = None,
        failure_ttl: int | str | None = None,
        description: str | None = None,
        depends_on: Any = None,
        job_id: str | None = None,
        at_front: bool = False,
        meta: dict | None = None,
        retry: Retry | None = None,
        on_success: Callback | Callable | None = None,
        on_failure: Callback | Callable | None = None,
        on_stopped: Callback | Callable | None = None,
        status: JobStatus = JobStatus.QUEUED,
    ) -> Job:
        """A job for this queue, in memory; `enqueue_job` stores and sends it."""
        timeout = parse_timeout(timeout)
        if timeout == 0:
            raise ValueError("0 timeout is not allowed. Use -1 for infinite timeout")
        ttl = parse_timeout(ttl)
        if ttl is not None and ttl <= 0:
            raise ValueError("Job ttl must be greater than 0")
        result_ttl = parse_timeout(result_ttl)
        failure_ttl = parse_timeout(failure_ttl)
        return Job.create(
            func, args=args, kwargs=kwargs, connection=self.connection,
            result_ttl=result_ttl, ttl=ttl, failure_ttl=failure_ttl,
            status=status, description=description, depends_on=depends_on,
            timeout=timeout if timeout is not None else self._default_timeout,
            id=job_id, origin=self.name, meta=meta, retry=retry, at_front=at_front,
            on_success=on_success, on_failure=on_failure, on_stopped=on_stopped,
        )

    def enqueue_job(self, job: Job, unique: bool = False) -> Job:
        """Store a job built by `create_job` and queue it (or defer it until its dependencies finish)."""
        job.origin = self.name
        job.enqueued_at = utcnow()
        if not self._is_async:
            return self._run_now(job, unique)
        if job.dependency_ids or unique:
            # The script's answer decides whether there is anything to publish.
            if self._store(job, unique, self.connection) == 1:
                broker.publish([job])
            else:
                job._status = JobStatus.DEFERRED
            return job
        # A plain job is always queued: its Celery message is built while Redis
        # stores the job, and sent once Redis has answered (never before).
        pending = scripts.PendingCall(scripts.ENQUEUE, self.connection, self._enqueue_args(job, unique=False))
        broker.publish([job], confirm=lambda: self._check_stored(job, pending.answer()) == 1)
        return job

    def _store(self, job: Job, unique: bool, client: Any) -> Any:
        """Write the job, then queue it, or defer it while a dependency is unfinished, in one atomic script.

        Returns the script's answer (1 queued, 0 deferred), or with a pipeline
        as `client`, the pipeline.
        """
        answer = scripts.ENQUEUE(args=self._enqueue_args(job, unique), client=client)
        return self._check_stored(job, answer)

    def _enqueue_args(self, job: Job, unique: bool) -> list[Any]:
        return [job.id, self.name, time.time(), utcformat(job.enqueued_at), "1" if job.enqueue_at_front else "0",
                "1" if unique else "0", self._fields(job), *job.dependency_ids]

    @staticmethod
    def _fields(job: Job) -> str:
        """The job's hash fields as one JSON argument for the enqueue scripts."""
        # The job is taken as queued (attempt 1) until the script answers otherwise.
        job._status = JobStatus.QUEUED
        job.attempt = 1
        return json.dumps(job.to_mapping())  # all strings: the standard encoder will do

    @staticmethod
    def _check_stored(job: Job, answer: Any) -> Any:
        if answer == -1:
            raise DuplicateJobError(f"Job {job.id} already exists")
        return answer

    def _run_now(self, job: Job, unique: bool) -> Job:
        """is_async=False: store the job and run it here and now, like RQ."""
        if unique and Job.exists(job.id, self.connection):
            raise DuplicateJobError(f"Job {job.id} already exists")
        if job.dependency_ids and not self._dependencies_finished(job):
            # Deferred, as in RQ: a worker runs it once its dependencies finish.
            if self._store(job, False, self.connection) == 1:
                broker.publish([job])  # they finished meanwhile
            else:
                job._status = JobStatus.DEFERRED
            return job
        perform_sync(job)
        return job

    def _dependencies_finished(self, job: Job) -> bool:
        with self.connection.pipeline(transaction=False) as pipe:
            for dependency_id in job.dependency_ids:
                pipe.hget(job_key(dependency_id), "status")
            statuses = pipe.execute()
        return all(status in (None, b"finished", "finished") for status in statuses)

    @staticmethod
    def prepare_data(
        func: FunctionReference,
        args: tuple | list | None = None,
        kwargs: dict | None = None,
        timeout: int | str | None = None,
        result_ttl: int | str | None = None,
        ttl: int | str | None = None,
        failure_ttl: int | str | None = None,
        description: str | None = None,
        depends_on: Any = None,
        job_id: str | None = None,
        at_front: bool = False,
        meta: dict | None = None,
        retry: Retry | None = None,
        on_success: Callback | Callable | None = None,
        on_failure: Callback | Callable | None = None,
        on_stopped: Callback | Callable | None = None,
    ) -> EnqueueData:
        """One job's worth of `enqueue_call` arguments, for `enqueue_many`."""
        return EnqueueData(func, args, kwargs, timeout, result_ttl, ttl, failure_ttl, description, depends_on,
                           job_id, at_front, meta, retry, on_success, on_failure, on_stopped)

    def enqueue_many(self, job_datas: Iterable[EnqueueData]) -> list[Job]:
        """Queue many jobs at once: one Redis round trip for all of them and one batched broker write."""
        jobs = [self.create_job(**data._asdict()) for data in job_datas]
        seen: set[str] = set()
        for job in jobs:
            if job.id in seen:
                raise ValueError(f"Job id {job.id!r} appears more than once in enqueue_many()")
            seen.add(job.id)
        if not self._is_async:
            return [self.enqueue_job(job) for job in jobs]
        now = utcnow()
        for job in jobs:
            job.origin = self.name
            job.enqueued_at = now
        plain = [job for job in jobs if not job.dependency_ids]
        with_dependencies = [job for job in jobs if job.dependency_ids]
        with self.connection.pipeline(transaction=False) as pipe:
            # Jobs without dependencies: one script call for all; the others need one each.
            plain_args = [self.name, time.time(), utcformat(now)]
            for job in plain:
                plain_args += [job.id, "1" if job.enqueue_at_front else "0", self._fields(job)]
            if plain:
                scripts.ENQUEUE_MANY(args=plain_args, client=pipe)
            for job in with_dependencies:
                self._store(job, False, pipe)
            answers = pipe.execute()
        plain_answers = answers.pop(0) if plain else []
        for job, answer in zip(plain + with_dependencies, plain_answers + answers, strict=True):
            if answer != 1:
                job._status = JobStatus.DEFERRED
        broker.publish([job for job in jobs if job._status == JobStatus.QUEUED])
        return jobs

    # Scheduling

    def enqueue_at(self, datetime: datetime, f: FunctionReference, *args: Any, **kwargs: Any) -> Job:
        """Queue the call at `datetime` (naive means local time); until then the job is `scheduled`."""
        options, args, kwargs = _split_options(args, kwargs)
        unique = options.pop("unique", False)
        if options.get("depends_on"):
            raise ValueError("depends_on cannot be combined with enqueue_at/enqueue_in")
        job = self.create_job(f, args, kwargs, status=JobStatus.SCHEDULED, **options)
        return self.schedule_job(job, datetime, unique=unique)

    def enqueue_in(self, time_delta: timedelta, f: FunctionReference, *args: Any, **kwargs: Any) -> Job:
        """Queue the call after `time_delta`."""
        return self.enqueue_at(utcnow() + time_delta, f, *args, **kwargs)

    def schedule_job(self, job: Job, datetime: datetime, unique: bool = False) -> Job:
        """Store a job as scheduled for `datetime`; a worker's scheduler queues it when it is due."""
        if unique and Job.exists(job.id, self.connection):
            raise DuplicateJobError(f"Job {job.id} already exists")
        if datetime.tzinfo is None:
            datetime = datetime.astimezone()  # naive: the machine's local time, as RQ reads it
        job.origin = self.name
        job._status = JobStatus.SCHEDULED
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.delete(job.key)
            pipe.hset(job.key, mapping=job.to_mapping())
            pipe.zadd(self.scheduled_job_registry.key, {job.id: datetime.timestamp()})
            pipe.sadd(QUEUES_KEY, self.key)
            pipe.execute()
        return job


def _split_options(args: tuple, kwargs: dict[str, Any]) -> tuple[dict[str, Any], tuple, dict[str, Any]]:
    """Separate RQ's reserved keyword arguments from the function's own."""
    options = {name: kwargs.pop(name) for name in _OPTION_NAMES if name in kwargs}
    if "job_timeout" in options:
        options["timeout"] = options.pop("job_timeout")
    if "pipeline" in kwargs:
        raise TypeError("pipeline= is not supported: a job must be stored before its Celery message is sent")
    if "args" in kwargs or "kwargs" in kwargs:
        if args:
            raise TypeError("Extra positional arguments cannot be used when using explicit args and kwargs")
        args = kwargs.pop("args", None) or ()
        kwargs = kwargs.pop("kwargs", None) or {}
    return options, tuple(args), kwargs
