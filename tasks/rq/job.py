"""Jobs: one function call, its options and its state, stored as a Redis hash (`rq:job:<id>`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from celery import current_app as current_celery_app

from . import broker, scripts
from .callbacks import Callback, as_callback
from .exceptions import DeserializationError, InvalidJobOperation, JobFailedError, NoSuchJobError
from .keys import dependents_key, job_key
from .results import Result
from .serializers import dumps, loads
from .utils import (
    as_text,
    decode_hash,
    function_name,
    get_call_string,
    import_attribute,
    utcformat,
    utcnow,
    utcparse,
    validate_job_id,
)

if TYPE_CHECKING:
    from redis import Redis

DEFAULT_RESULT_TTL = 500
DEFAULT_FAILURE_TTL = 365 * 24 * 3600


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    FINISHED = "finished"
    FAILED = "failed"
    STARTED = "started"
    DEFERRED = "deferred"
    SCHEDULED = "scheduled"
    STOPPED = "stopped"
    CANCELED = "canceled"


# The Celery state a job's status reads as, for code written against AsyncResult.
_CELERY_STATES = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.DEFERRED: "PENDING",
    JobStatus.SCHEDULED: "PENDING",
    JobStatus.STARTED: "STARTED",
    JobStatus.FINISHED: "SUCCESS",
    JobStatus.FAILED: "FAILURE",
    JobStatus.STOPPED: "REVOKED",
    JobStatus.CANCELED: "REVOKED",
}
_READY = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


class Retry:
    """Retry a failing job up to `max` times, waiting `interval` seconds (or the next of a list) between tries."""

    def __init__(self, max: int, interval: int | Iterable[int] = 0):
        if max < 1:
            raise ValueError("max: please enter a value greater than 0")
        intervals = [interval] if isinstance(interval, int) else list(interval)
        if any(value < 0 for value in intervals):
            raise ValueError("interval: negative numbers are not allowed")
        self.max = max
        self.intervals = intervals

    @staticmethod
    def get_interval(retries_left: int, intervals: list[int] | None) -> int:
        """The wait before the next try; as in RQ, a short list is read from its start."""
        if not intervals:
            return 0
        return intervals[max(len(intervals) - retries_left, 0)]

    def __repr__(self) -> str:
        return f"Retry(max={self.max}, interval={self.intervals})"


_current_job: ContextVar[Job | None] = ContextVar("current_job", default=None)


def get_current_job(connection: Redis | None = None) -> Job | None:
    """The job being run by this worker (or by `is_async=False`), or None outside a job.

    `connection` is accepted for RQ compatibility and not needed.
    """
    return _current_job.get()


def cancel_job(job_id: str, connection: Redis) -> None:
    """Cancel the job with this id (see `Job.cancel`)."""
    Job.fetch(job_id, connection=connection).cancel()


def requeue_job(job_id: str, connection: Redis) -> Job:
    """Requeue the failed job with this id (see `Job.requeue`)."""
    return Job.fetch(job_id, connection=connection).requeue()


@lru_cache(maxsize=1024)
def resolve_function(name: str) -> Callable[..., Any]:
    """The callable a job names: a task registered with Celery under that name, else a dotted path."""
    task = current_celery_app.tasks.get(name)
    if task is not None:
        return task
    try:
        return import_attribute(name)
    except (ImportError, AttributeError) as exc:
        raise DeserializationError(f"Cannot import the job function {name!r}: {exc}") from exc


class Job:
    """A function call to run on a worker, with its options and state."""

    def __init__(self, id: str | None = None, connection: Redis | None = None):
        self._id = id or str(uuid4())
        self.connection = connection
        self.func_name: str | None = None
        self.args: tuple = ()
        self.kwargs: dict[str, Any] = {}
        self.description: str | None = None
        self.origin = ""
        self._status: JobStatus | None = None
        self.created_at: datetime = utcnow()
        self.enqueued_at: datetime | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.timeout: int | None = None
        self.result_ttl: int | None = None
        self.failure_ttl: int | None = None
        self.ttl: int | None = None
        self.meta: dict[str, Any] = {}
        self.retries_left: int | None = None
        self.retry_intervals: list[int] | None = None
        self.enqueue_at_front = False
        self._dependency_ids: list[str] = []
        self.success_callback: Callback | None = None
        self.failure_callback: Callback | None = None
        self.stopped_callback: Callback | None = None
        self.worker_name: str | None = None
        self.attempt = 0
        self._result: Any = None
        self._exc_info: str | None = None

    # Creating, loading and naming

    @classmethod
    def create(
        cls,
        func: Callable[..., Any] | str,
        args: tuple | list | None = None,
        kwargs: dict[str, Any] | None = None,
        connection: Redis | None = None,
        result_ttl: int | None = None,
        ttl: int | None = None,
        status: JobStatus | None = None,
        description: str | None = None,
        depends_on: Job | str | Iterable[Job | str] | None = None,
        timeout: int | None = None,
        id: str | None = None,
        origin: str = "",
        meta: dict[str, Any] | None = None,
        failure_ttl: int | None = None,
        retry: Retry | None = None,
        at_front: bool = False,
        on_success: Callback | Callable[..., Any] | str | None = None,
        on_failure: Callback | Callable[..., Any] | str | None = None,
        on_stopped: Callback | Callable[..., Any] | str | None = None,
    ) -> Job:
        """A new job in memory (nothing is written until a Queue enqueues it)."""
        if args is None:
            args = ()
        if kwargs is None:
            kwargs = {}
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"{args!r} is not a valid args list")
        if not isinstance(kwargs, dict):
            raise TypeError(f"{kwargs!r} is not a valid kwargs dict")
        if id is not None:
            validate_job_id(id)
        job = cls(id, connection)
        job.func_name = function_name(func)
        job.args = tuple(args)
        job.kwargs = kwargs
        job.origin = origin
        job._status = status
        job.description = description or get_call_string(job.func_name, job.args, kwargs)
        job.result_ttl = result_ttl
        job.failure_ttl = failure_ttl
        job.ttl = ttl
        job.timeout = timeout
        job.meta = meta or {}
        job.enqueue_at_front = at_front
        if retry is not None:
            job.retries_left = retry.max
            job.retry_intervals = retry.intervals
        job._dependency_ids = _dependency_ids(depends_on)
        job.success_callback = as_callback(on_success)
        job.failure_callback = as_callback(on_failure)
        job.stopped_callback = as_callback(on_stopped)
        return job

    @classmethod
    def fetch(cls, id: str, connection: Redis) -> Job:
        """The stored job with this id; NoSuchJobError if there is none."""
        raw = connection.hgetall(job_key(id))
        if not raw:
            raise NoSuchJobError(f"No such job: {id}")
        return cls.restore(id, connection, raw)

    @classmethod
    def fetch_many(cls, job_ids: Iterable[str], connection: Redis) -> list[Job | None]:
        """The stored jobs with these ids, in one round trip; None where a job does not exist."""
        job_ids = list(job_ids)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(job_key(job_id))
            answers = pipe.execute()
        pairs = zip(job_ids, answers, strict=True)
        return [cls.restore(job_id, connection, raw) if raw else None for job_id, raw in pairs]

    @classmethod
    def exists(cls, job_id: str, connection: Redis) -> bool:
        """Whether a job with this id is stored."""
        return bool(connection.exists(job_key(job_id)))

    @classmethod
    def restore(cls, id: str, connection: Redis, raw: dict) -> Job:
        """A job from its stored hash (as HGETALL answers it)."""
        data = decode_hash(raw)
        job = cls(id, connection)
        try:
            job.func_name = data["func_name"]
            job.args = tuple(loads(data.get("args")) or ())
            job.kwargs = loads(data.get("kwargs")) or {}
            job.meta = loads(data.get("meta")) or {}
            job._result = loads(data.get("result"))
            job.retry_intervals = loads(data.get("retry_intervals"))
            job._dependency_ids = loads(data.get("dependency_ids")) or []
        except (KeyError, ValueError) as exc:
            raise DeserializationError(f"Job {id} has unreadable data: {exc!r}") from exc
        job.description = data.get("description")
        job.origin = data.get("origin", "")
        job._status = JobStatus(data["status"]) if data.get("status") else None
        job.created_at = utcparse(data.get("created_at"))
        job.enqueued_at = utcparse(data.get("enqueued_at"))
        job.started_at = utcparse(data.get("started_at"))
        job.ended_at = utcparse(data.get("ended_at"))
        job.timeout = _int_or_none(data.get("timeout"))
        job.result_ttl = _int_or_none(data.get("result_ttl"))
        job.failure_ttl = _int_or_none(data.get("failure_ttl"))
        job.ttl = _int_or_none(data.get("ttl"))
        job.retries_left = _int_or_none(data.get("retries_left"))
        job.enqueue_at_front = data.get("enqueue_at_front") == "1"
        job.worker_name = data.get("worker_name")
        job.attempt = int(data.get("attempt") or 0)
        job._exc_info = data.get("exc_info")
        for kind in ("success", "failure", "stopped"):
            name = data.get(f"{kind}_callback_name")
            if name:
                callback = Callback(name, _int_or_none(data.get(f"{kind}_callback_timeout")))
                setattr(job, f"{kind}_callback", callback)
        return job

    def to_mapping(self) -> dict[str, str]:
        """The fields stored in the job's hash, as strings (fields without a value are left out)."""
        mapping: dict[str, str] = {
            "func_name": self.func_name,
            "args": dumps(self.args),
            "kwargs": dumps(self.kwargs),
            "description": self.description,
            "origin": self.origin,
            "created_at": utcformat(self.created_at),
            "attempt": str(self.attempt),
        }
        optional = {
            "status": self._status.value if self._status else None,
            "enqueued_at": self.enqueued_at and utcformat(self.enqueued_at),
            "started_at": self.started_at and utcformat(self.started_at),
            "worker_name": self.worker_name,
            "timeout": self.timeout,
            "result_ttl": self.result_ttl,
            "failure_ttl": self.failure_ttl,
            "ttl": self.ttl,
            "meta": dumps(self.meta) if self.meta else None,
            "retries_left": self.retries_left,
            "retry_intervals": dumps(self.retry_intervals) if self.retry_intervals is not None else None,
            "enqueue_at_front": "1" if self.enqueue_at_front else None,
            "dependency_ids": dumps(self._dependency_ids) if self._dependency_ids else None,
        }
        for kind in ("success", "failure", "stopped"):
            callback = getattr(self, f"{kind}_callback")
            if callback is not None:
                optional[f"{kind}_callback_name"] = callback.name
                optional[f"{kind}_callback_timeout"] = callback.timeout
        mapping.update((key, str(value)) for key, value in optional.items() if value is not None)
        return mapping

    @property
    def id(self) -> str:
        return self._id

    def get_id(self) -> str:
        """The job id (older RQ code calls this)."""
        return self._id

    @property
    def key(self) -> str:
        return job_key(self._id)

    @property
    def func(self) -> Callable[..., Any]:
        """The function (or Celery task) this job calls."""
        return resolve_function(self.func_name)

    @property
    def dependency_ids(self) -> list[str]:
        """Ids of the jobs this one waits for."""
        return list(self._dependency_ids)

    @property
    def dependent_ids(self) -> list[str]:
        """Ids of the deferred jobs still waiting for this one."""
        return sorted(as_text(member) for member in self.connection.smembers(dependents_key(self._id)))

    # State

    def refresh(self) -> None:
        """Reload every field from Redis."""
        fresh = self.fetch(self._id, self.connection)
        self.__dict__.update(fresh.__dict__)

    def get_status(self, refresh: bool = True) -> JobStatus:
        """The job's status; InvalidJobOperation if the job no longer exists."""
        if refresh:
            status = self.connection.hget(self.key, "status")
            if not status:
                raise InvalidJobOperation(f"Failed to retrieve status for job: {self._id}")
            self._status = JobStatus(as_text(status))
        return self._status

    @property
    def is_queued(self) -> bool:
        return self.get_status() == JobStatus.QUEUED

    @property
    def is_started(self) -> bool:
        return self.get_status() == JobStatus.STARTED

    @property
    def is_finished(self) -> bool:
        return self.get_status() == JobStatus.FINISHED

    @property
    def is_failed(self) -> bool:
        return self.get_status() == JobStatus.FAILED

    @property
    def is_deferred(self) -> bool:
        return self.get_status() == JobStatus.DEFERRED

    @property
    def is_scheduled(self) -> bool:
        return self.get_status() == JobStatus.SCHEDULED

    @property
    def is_stopped(self) -> bool:
        return self.get_status() == JobStatus.STOPPED

    @property
    def is_canceled(self) -> bool:
        return self.get_status() == JobStatus.CANCELED

    def get_meta(self, refresh: bool = True) -> dict[str, Any]:
        """The job's meta dict, read again from Redis unless refresh=False."""
        if refresh:
            self.meta = loads(self.connection.hget(self.key, "meta")) or {}
        return self.meta

    def save_meta(self) -> None:
        """Store `job.meta`; visible at once to every process that fetches the job."""
        scripts.SAVE_META(args=[self._id, dumps(self.meta)], client=self.connection)

    def get_position(self) -> int | None:
        """The job's index in its queue (0 is next), or None when it is not queued."""
        from .queue import Queue

        return Queue(self.origin, connection=self.connection).get_job_position(self._id)

    # Outcome

    def _load_outcome(self) -> None:
        fields = self.connection.hmget(self.key, "status", "result", "exc_info", "ended_at", "worker_name")
        status, result, exc_info, ended_at, worker_name = (as_text(value) for value in fields)
        self._status = JobStatus(status) if status else None
        self._result = loads(result)
        self._exc_info = exc_info
        self.ended_at = utcparse(ended_at)
        self.worker_name = worker_name

    def return_value(self, refresh: bool = False) -> Any:
        """What the job's function returned; None until it has finished."""
        if refresh or self._status != JobStatus.FINISHED:
            self._load_outcome()
        return self._result if self._status == JobStatus.FINISHED else None

    @property
    def result(self) -> Any:
        """The return value (RQ's older name for `return_value()`)."""
        return self.return_value()

    @property
    def exc_info(self) -> str | None:
        """The traceback text of the last failure, if any."""
        if self._exc_info is None:
            self._load_outcome()
        return self._exc_info

    def latest_result(self, timeout: float = 0) -> Result | None:
        """The outcome of the last run, waiting up to `timeout` seconds for one; None if there is none yet."""
        deadline = time.monotonic() + timeout
        while True:
            self._load_outcome()
            result = Result.from_job(self)
            if result is not None or time.monotonic() >= deadline:
                return result
            time.sleep(0.05)

    # Celery's AsyncResult vocabulary, for code that expects it

    @property
    def state(self) -> str:
        """The status in Celery's words: PENDING, STARTED, SUCCESS, FAILURE or REVOKED."""
        try:
            return _CELERY_STATES[self.get_status()]
        except InvalidJobOperation:
            return "PENDING"  # Celery's answer for an id it knows nothing of

    @property
    def info(self) -> Any:
        """As AsyncResult.info: the return value, the traceback text, or (while running) the meta dict."""
        status = self.get_status()
        if status == JobStatus.FINISHED:
            return self.return_value(refresh=True)
        if status in (JobStatus.FAILED, JobStatus.STOPPED):
            return self.exc_info
        return self.get_meta()

    def ready(self) -> bool:
        """Whether the job has reached an end state (finished, failed, stopped or canceled)."""
        return self.get_status() in _READY

    def successful(self) -> bool:
        return self.get_status() == JobStatus.FINISHED

    def failed(self) -> bool:
        return self.get_status() in (JobStatus.FAILED, JobStatus.STOPPED)

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.05) -> Any:
        """Wait for the job to end and return its return value.

        Raises TimeoutError after `timeout` seconds, and JobFailedError if the
        job failed, was stopped or canceled (unless propagate=False: then None).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"Job {self._id} did not finish within {timeout} s")
            time.sleep(interval)
        if self.successful():
            return self.return_value(refresh=True)
        if propagate:
            raise JobFailedError(self._id, self.exc_info or f"job {self._status.value}")
        return None

    # Operations

    def cancel(self) -> None:
        """Take the job off its queue (or registry) for good; a running job is not interrupted.

        Raises InvalidJobOperation if the job is already canceled.
        """
        answer = scripts.CANCEL(args=[self._id, time.time()], client=self.connection)
        if answer == -1:
            raise NoSuchJobError(f"No such job: {self._id}")
        if answer == 0:
            raise InvalidJobOperation(f"Cannot cancel already canceled job: {self._id}")
        self._status = JobStatus.CANCELED

    def requeue(self, at_front: bool = False) -> Job:
        """Queue a failed (or stopped) job again; InvalidJobOperation for any other job."""
        now = utcnow()
        answer = scripts.REQUEUE(args=[self._id, utcformat(now), "1" if at_front else "0"], client=self.connection)
        if answer == -2:
            raise NoSuchJobError(f"No such job: {self._id}")
        if answer == -1:
            raise InvalidJobOperation(f"Job {self._id} is not in the failed job registry")
        self._status = JobStatus.QUEUED
        self.attempt = answer
        self.enqueued_at = now
        self.started_at = self.ended_at = self._exc_info = self.worker_name = None
        broker.publish([self])
        return self

    def delete(self, delete_dependents: bool = False) -> None:
        """Remove the job from its queue and registries and delete its data (and its dependents', if asked)."""
        if delete_dependents:
            for dependent_id in self.dependent_ids:
                scripts.DELETE(args=[dependent_id], client=self.connection)
        scripts.DELETE(args=[self._id], client=self.connection)

    def __repr__(self) -> str:
        return f"Job({self._id!r}, func_name={self.func_name!r}, origin={self.origin!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self._id

    def __hash__(self) -> int:
        return hash(self._id)


def _dependency_ids(depends_on: Job | str | Iterable[Job | str] | None) -> list[str]:
    if depends_on is None:
        return []
    if isinstance(depends_on, (Job, str)):
        depends_on = [depends_on]
    return [item.id if isinstance(item, Job) else item for item in depends_on]


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
