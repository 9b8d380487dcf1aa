"""Exceptions raised by the job API, named as RQ names them."""

from __future__ import annotations


class NoSuchJobError(Exception):
    """No job with this id exists (it was never created, was deleted or has expired)."""


class InvalidJobOperation(Exception):
    """The operation does not apply to the job in its current state (e.g. cancelling it twice)."""


class DuplicateJobError(Exception):
    """A job with this id already exists and the caller asked for a unique one."""


class DeserializationError(Exception):
    """A job's stored data cannot be decoded, or its function cannot be imported."""


class TimeoutFormatError(Exception):
    """A timeout is neither a number of seconds nor a string like '1h', '3m', '20s', '2d'."""


class AbandonedJobError(Exception):
    """The worker running the job died (or was killed) before the job could finish."""


class JobFailedError(Exception):
    """Raised by `Job.get()` when the job failed; `exc_info` holds the job's traceback text."""

    def __init__(self, job_id: str, exc_info: str | None):
        last_line = (exc_info or "").strip().splitlines()[-1:] or ["no traceback recorded"]
        super().__init__(f"Job {job_id} failed: {last_line[0]}")
        self.job_id = job_id
        self.exc_info = exc_info
