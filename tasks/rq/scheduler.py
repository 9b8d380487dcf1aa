"""The scheduler inside every worker: queues scheduled jobs when they are due, like `rq worker --with-scheduler`.

Scheduled jobs (enqueue_at, enqueue_in, retries with an interval) wait in the
queue's ScheduledJobRegistry, not in the broker: a far-future ETA message
handed to Celery's Redis transport would be delivered again each time its
visibility timeout passed. Each worker's main process runs a timer that, for
every queue the worker consumes, moves the due jobs to the queue with one
atomic script (so two workers never both take a job) and then publishes them.

The same timer now and then sweeps the registries: started jobs whose worker
died (past their hard time limit) are failed or retried, and expired finished
and failed entries are dropped.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from celery import bootsteps

from . import broker, scripts
from .extension import flask_app_for, worker_connection
from .job import Job
from .registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from .utils import as_text, utcformat, utcnow

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

DUE_BATCH = 500
MAINTENANCE_INTERVAL = 60


def enqueue_due_jobs(queue_name: str, connection: Redis) -> list[Job]:
    """Queue and publish the scheduled jobs of this queue that are due; returns them."""
    job_ids = scripts.ENQUEUE_DUE(
        args=[queue_name, time.time(), utcformat(utcnow()), DUE_BATCH], client=connection
    )
    jobs = [job for job in Job.fetch_many(map(as_text, job_ids), connection) if job is not None]
    broker.publish(jobs)
    return jobs


def clean_registries(queue_name: str, connection: Redis) -> None:
    """Fail (or retry) abandoned started jobs and drop expired finished and failed entries."""
    for registry_class in (StartedJobRegistry, FinishedJobRegistry, FailedJobRegistry):
        registry_class(queue_name, connection).cleanup()


class JobScheduler(bootsteps.StartStopStep):
    """Worker bootstep running `enqueue_due_jobs` (and, less often, `clean_registries`) on a timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any):
        super().__init__(worker, **kwargs)
        self.timer_entry = None
        self.next_maintenance = 0.0

    def start(self, worker: Any) -> None:
        config = flask_app_for(worker.app).config
        interval = float(config.get("RQ_SCHEDULER_INTERVAL", 1.0))
        queues = worker.app.amqp.queues
        self.queue_names = sorted(queues.consume_from or queues)
        self.timer_entry = worker.timer.call_repeatedly(interval, self.tick, (worker,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def tick(self, worker: Any) -> None:
        # Runs in the worker's event loop: never let an error (Redis away, say) escape into it.
        try:
            connection = worker_connection(worker.app)
            with flask_app_for(worker.app).app_context():
                for name in self.queue_names:
                    enqueue_due_jobs(name, connection)
                if time.monotonic() >= self.next_maintenance:
                    self.next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
                    for name in self.queue_names:
                        clean_registries(name, connection)
        except Exception:
            log.exception("tasks.rq scheduler tick failed")
