"""Job registries: per queue, the jobs that are started, finished, failed, deferred, scheduled or canceled.

Each registry is a Redis sorted set of job ids (see keys.py for what the score means).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .exceptions import AbandonedJobError, NoSuchJobError
from .job import Job, JobStatus
from .keys import registry_key
from .utils import as_text

if TYPE_CHECKING:
    from redis import Redis

    from .queue import Queue


class BaseRegistry:
    """The ids of one queue's jobs in one state."""

    kind = ""

    def __init__(self, name: str = "default", connection: Redis | None = None, queue: Queue | None = None):
        if queue is not None:
            name, connection = queue.name, queue.connection
        if connection is None:
            raise TypeError(f"{type(self).__name__}() needs a connection (or a queue)")
        self.name = name
        self.connection = connection
        self.key = registry_key(self.kind, name)

    def __len__(self) -> int:
        return self.count

    def __contains__(self, item: Job | str) -> bool:
        job_id = item.id if isinstance(item, Job) else item
        return self.connection.zscore(self.key, job_id) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def count(self) -> int:
        """How many jobs are in the registry (after dropping expired entries)."""
        return self.get_job_count()

    def get_job_count(self, cleanup: bool = True) -> int:
        if cleanup:
            self.cleanup()
        return self.connection.zcard(self.key)

    def get_job_ids(self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True) -> list[str]:
        """Ids in score order (ascending unless `desc`), from rank `start` to `end` inclusive."""
        if cleanup:
            self.cleanup()
        return [as_text(job_id) for job_id in self.connection.zrange(self.key, start, end, desc=desc)]

    def get_expiration_time(self, job: Job | str) -> datetime | None:
        """When the job's entry expires (None: never)."""
        score = self.connection.zscore(self.key, job.id if isinstance(job, Job) else job)
        if score is None or score == float("inf"):
            return None
        return datetime.fromtimestamp(score, UTC)

    def remove(self, job: Job | str, delete_job: bool = False) -> int:
        """Drop the job from the registry (and delete the job itself if asked)."""
        job_id = job.id if isinstance(job, Job) else job
        removed = self.connection.zrem(self.key, job_id)
        if delete_job:
            try:
                (job if isinstance(job, Job) else Job.fetch(job_id, self.connection)).delete()
            except NoSuchJobError:
                pass
        return removed

    def get_queue(self) -> Queue:
        from .queue import Queue

        return Queue(self.name, connection=self.connection)

    def cleanup(self, timestamp: float | None = None) -> None:
        """Drop expired entries; registries whose entries never expire have nothing to do."""


class _ExpiringRegistry(BaseRegistry):
    def cleanup(self, timestamp: float | None = None) -> None:
        """Drop the entries whose ttl has passed (their jobs have expired from Redis too)."""
        self.connection.zremrangebyscore(self.key, 0, time.time() if timestamp is None else timestamp)


class StartedJobRegistry(BaseRegistry):
    """Jobs running now; an entry expires (and the job counts as abandoned) after its hard time limit."""

    kind = "started"

    def cleanup(self, timestamp: float | None = None) -> None:
        """Fail, or retry if it has retries left, each job whose worker died while running it."""
        from .execution import record_failure

        cutoff = time.time() if timestamp is None else timestamp
        job_ids = [as_text(job_id) for job_id in self.connection.zrangebyscore(self.key, 0, cutoff)]
        for job_id, job in zip(job_ids, Job.fetch_many(job_ids, self.connection), strict=True):
            if job is not None and job.get_status(refresh=False) == JobStatus.STARTED:
                error = AbandonedJobError(f"Moved to FailedJobRegistry: the worker running job {job_id} died")
                record_failure(job, (AbandonedJobError, error, None))
            self.connection.zrem(self.key, job_id)


class FinishedJobRegistry(_ExpiringRegistry):
    """Jobs that finished; kept for their result_ttl."""

    kind = "finished"


class FailedJobRegistry(_ExpiringRegistry):
    """Jobs that failed or were stopped; kept for their failure_ttl. They can be requeued."""

    kind = "failed"

    def requeue(self, job_or_id: Job | str, at_front: bool = False) -> Job:
        """Queue the failed job again (InvalidJobOperation if it is not in this registry)."""
        job = job_or_id if isinstance(job_or_id, Job) else Job.fetch(job_or_id, self.connection)
        return job.requeue(at_front=at_front)


class DeferredJobRegistry(BaseRegistry):
    """Jobs waiting for their dependencies to finish."""

    kind = "deferred"


class ScheduledJobRegistry(BaseRegistry):
    """Jobs waiting for their time; the score is when they are due."""

    kind = "scheduled"

    def get_scheduled_time(self, job_or_id: Job | str) -> datetime:
        """When the job is due (UTC); NoSuchJobError if it is not scheduled."""
        score = self.connection.zscore(self.key, job_or_id.id if isinstance(job_or_id, Job) else job_or_id)
        if score is None:
            raise NoSuchJobError(f"Job {job_or_id} is not scheduled")
        return datetime.fromtimestamp(score, UTC)


class CanceledJobRegistry(BaseRegistry):
    """Jobs that were canceled."""

    kind = "canceled"
