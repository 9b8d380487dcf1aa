"""An RQ-compatible job API on Celery: code written for RQ runs on Celery workers with its imports changed.

    from tasks.rq import Queue, Retry, Callback, get_current_job
    from tasks.rq.job import Job, JobStatus

Jobs are stored in Redis under RQ's keys and run as Celery tasks (task id ==
job id) by plain `celery worker -Q <queues>` processes. Call `init_app(app)`
after `celery_init_app(app)`.
"""

from .callbacks import Callback
from .command import send_stop_job_command
from .extension import init_app, redis_connection
from .job import Retry, cancel_job, get_current_job, requeue_job
from .queue import Queue

__all__ = [
    "Callback",
    "Queue",
    "Retry",
    "cancel_job",
    "get_current_job",
    "init_app",
    "redis_connection",
    "requeue_job",
    "send_stop_job_command",
]
