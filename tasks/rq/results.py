"""The outcome of a job's last run, as RQ's `Job.latest_result()` returns it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job


class Result:
    """What the last run of a job came to: a return value, or the traceback of a failure or stop."""

    class Type(Enum):
        SUCCESSFUL = 1
        FAILED = 2
        STOPPED = 3

    def __init__(self, job_id: str, type: Type, created_at: datetime | None,
                 return_value: Any = None, exc_string: str | None = None, worker_name: str | None = None):
        self.job_id = job_id
        self.type = type
        self.created_at = created_at
        self.return_value = return_value
        self.exc_string = exc_string
        self.worker_name = worker_name

    @classmethod
    def from_job(cls, job: Job) -> Result | None:
        """The result a job's stored state holds; None while it has not ended."""
        kinds = {"finished": cls.Type.SUCCESSFUL, "failed": cls.Type.FAILED, "stopped": cls.Type.STOPPED}
        kind = kinds.get(job._status.value if job._status else "")
        if kind is None:
            return None
        if kind is cls.Type.SUCCESSFUL:
            return cls(job.id, kind, job.ended_at, return_value=job._result, worker_name=job.worker_name)
        return cls(job.id, kind, job.ended_at, exc_string=job._exc_info, worker_name=job.worker_name)

    def __repr__(self) -> str:
        return f"Result(job_id={self.job_id!r}, type={self.type.name})"
