"""Handing jobs to Celery: one task message per job, on the Celery queue named like the job's queue.

Every job is sent as the one generic task `run_job`, with the task id equal to
the job id and `shadow` set to the job's function name, so `celery inspect
active`, the worker log and Flower show the function rather than `run_job`.
The message carries the job's args and kwargs too (for those same views); the
worker runs the job from its Redis hash, which is the one source of truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from celery import current_app as current_celery_app
from celery.utils.nodenames import anon_nodename

from .timeouts import celery_time_limits

if TYPE_CHECKING:
    from celery import Celery
    from kombu import Producer

    from .job import Job

RUN_JOB_TASK = "tasks.rq.run_job"
# The message header carrying the job's attempt number (see scripts.py).
ATTEMPT_HEADER = "rq_attempt"

# Queues this process has declared to the broker already. Declaring costs as much
# as publishing; Celery's queues are durable, so once per process is enough.
_declared_queues: set[str] = set()


def publish(jobs: Sequence[Job], confirm: Callable[[], bool] | None = None) -> None:
    """Send these queued jobs to Celery; several go out in one broker write where the transport can batch.

    With `confirm`, the messages are built first and sent only if confirm()
    then returns True: the caller's own Redis round trip runs meanwhile.
    """
    if not jobs:
        return
    app = current_celery_app._get_current_object()
    parent = app.current_worker_task  # a job enqueued by a running task is that task's child
    options = {
        "origin": anon_nodename(),  # what Celery would compute (a gethostname call) for every message
        "create_sent_event": app.conf.task_send_sent_event,
        "root_id": parent and (parent.request.root_id or parent.request.id),
        "parent_id": parent and parent.request.id,
    }
    messages = [_task_message(app, job, options) for job in jobs]
    with app.producer_or_acquire() as producer:
        if confirm is not None and not confirm():
            return
        batched = len(jobs) > 1
        # Redis: one pipelined LPUSH round trip for the whole batch (kombu's Producer.batch).
        with producer.batch() if batched else nullcontext():
            for job, message in zip(jobs, messages, strict=True):
                _send(app, producer, job, message, batched)


def _task_message(app: Celery, job: Job, options: dict) -> Any:
    soft_limit, hard_limit = celery_time_limits(job.timeout)
    return app.amqp.create_task_message(
        job.id, RUN_JOB_TASK, job.args, job.kwargs,
        expires=job.ttl,
        time_limit=hard_limit,
        soft_time_limit=soft_limit,
        shadow=job.func_name,
        ignore_result=True,
        # Job arguments are JSON data (no cycles, no custom reprs), so a plain
        # truncated repr is safe and much cheaper than Celery's saferepr.
        argsrepr=_short_repr(job.args),
        kwargsrepr=_short_repr(job.kwargs),
        **options,
    )


def _send(app: Celery, producer: Producer, job: Job, message: Any, batched: bool) -> None:
    publish_options = {}
    if batched:
        # A batched message only reaches the broker when the batch is flushed; retrying
        # each one while it is merely buffered would cost time and do nothing.
        publish_options["retry"] = False
    if job.ttl is not None:
        # AMQP brokers drop the message themselves once the job's ttl has passed.
        publish_options["expiration"] = job.ttl
    if job.origin in _declared_queues:
        publish_options["declare"] = []
    app.amqp.send_task_message(
        producer, RUN_JOB_TASK, message, queue=job.origin, headers={ATTEMPT_HEADER: job.attempt}, **publish_options
    )
    _declared_queues.add(job.origin)


def _short_repr(value: object, limit: int = 1024) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
