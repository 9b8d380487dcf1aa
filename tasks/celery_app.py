"""Celery wired to Flask the way Flask documents it: one Celery app per Flask app,
every task running inside that Flask app's context."""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

from extensions import db
from transcription.engines import warm_up_engine

TRANSCRIPTION_QUEUE = "transcription"
DEFAULT_QUEUE = "celery"


def celery_settings(config: dict) -> dict:
    """Celery's settings derived from the Flask config."""
    hard_limit = int(config["CELERY_TASK_TIME_LIMIT"])
    # The Redis transport re-delivers an unacknowledged task after
    # visibility_timeout (1 hour by default). With acks_late a 2-hour task
    # would then run twice; keep the timeout above the hard time limit.
    transport_options = {"visibility_timeout": hard_limit + 600}
    return {
        "broker_url": config["CELERY_BROKER_URL"],
        "result_backend": config["CELERY_RESULT_BACKEND"],
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": transport_options,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {"tasks.pipeline.*": {"queue": TRANSCRIPTION_QUEUE}},
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        # Keep running tasks through a broker connection loss: progress lives in
        # the database, and a cancelled lane would only waste an API answer.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_track_started": True,
        "task_soft_time_limit": int(config["CELERY_TASK_SOFT_TIME_LIMIT"]),
        "task_time_limit": hard_limit,
        "result_expires": 7 * 24 * 3600,
        "worker_hijack_root_logger": False,
        "broker_connection_timeout": 4,
        "redis_socket_connect_timeout": 4,
        "beat_schedule": {
            "recover-stale-transcriptions": {
                "task": "tasks.recovery.recover_stale_transcriptions",
                "schedule": float(config["RECOVERY_INTERVAL_SECONDS"]),
            },
            "apply-retention": {
                "task": "tasks.retention.apply_retention",
                "schedule": float(config["RETENTION_INTERVAL_SECONDS"]),
            },
        },
    }


def ensure_broker_reachable(celery_app: Celery, timeout: float = 3.0) -> None:
    """Raise kombu's OperationalError at once if the broker does not answer.

    Sending a task first subscribes to its result in the result backend, which
    retries for 20 s before it gives up; this check fails in milliseconds.
    """
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app bound to `app`; tasks run in its app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    @worker_process_init.connect(weak=False)
    def _own_database_connections(**_kwargs):
        # A pool child is forked with the parent's pooled connections; sharing a
        # PostgreSQL socket between processes corrupts both sides' conversations.
        with app.app_context():
            db.engine.dispose(close=False)

    @worker_process_init.connect(weak=False)
    def _warm_up_engine(**_kwargs):
        warm_up_engine(app.config)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_settings(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
