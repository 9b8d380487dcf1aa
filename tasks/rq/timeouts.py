"""Job time limits: RQ's `job_timeout` expressed as Celery's soft and hard time limits."""

from __future__ import annotations

# Seconds between the soft limit (JobTimeoutException raised inside the job) and
# the hard limit (the pool process is killed). It lets a job that catches the
# soft limit clean up, without letting it run on indefinitely.
HARD_LIMIT_GRACE = 5


class JobTimeoutException(Exception):
    """The job ran longer than its `job_timeout` (raised inside the job, like RQ's)."""


def celery_time_limits(timeout: int | None) -> tuple[int | None, int | None]:
    """(soft, hard) Celery time limits for a job timeout; -1 or None leave Celery's defaults."""
    if timeout is None or timeout < 0:
        return None, None
    return timeout, timeout + HARD_LIMIT_GRACE
