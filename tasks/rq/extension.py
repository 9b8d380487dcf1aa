"""Wiring the job API into a Flask app and the Celery app bound to it."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from celery import Celery
from flask import Flask, current_app
from redis import Redis

# The Flask app each Celery app was created for: the worker's main process needs
# its config and app context outside any task (signals, the scheduler step).
_flask_apps: WeakKeyDictionary[Celery, Flask] = WeakKeyDictionary()


def init_app(app: Flask) -> None:
    """Set up the job API for `app` (after celery_init_app): Redis connection, worker scheduler, job task."""
    from .scheduler import JobScheduler

    url = app.config.get("RQ_REDIS_URL") or _default_redis_url(app.config)
    app.config["RQ_REDIS_URL"] = url
    # Redis.from_url connects on first use; an app without any Redis only fails if it uses jobs.
    app.extensions["rq"] = Redis.from_url(url) if url else None
    celery_app = app.extensions["celery"]
    _flask_apps[celery_app] = app
    celery_app.steps["worker"].add(JobScheduler)
    from . import worker  # noqa: F401  (registers the job task, the stop command and the signal handlers)


def _default_redis_url(config: dict) -> str | None:
    """Jobs live next to Celery's results by default (the result backend's Redis), else the broker's."""
    for name in ("CELERY_RESULT_BACKEND", "CELERY_BROKER_URL"):
        url = config.get(name) or ""
        if url.startswith(("redis://", "rediss://", "unix://")):
            return url
    return None


def redis_connection(app: Flask | None = None) -> Redis:
    """The Redis client for job data of `app` (default: the current app), from RQ_REDIS_URL."""
    connection = (app or current_app).extensions["rq"]
    if connection is None:
        raise RuntimeError("tasks.rq needs a Redis: set RQ_REDIS_URL (or use a Redis result backend or broker)")
    return connection


def flask_app_for(celery_app: Celery) -> Flask:
    """The Flask app `celery_app` belongs to."""
    try:
        return _flask_apps[celery_app]
    except KeyError:
        raise RuntimeError("tasks.rq.init_app(app) was not called for this Celery app") from None


def worker_connection(celery_app: Celery) -> Redis:
    """The Redis client for job data, as a worker of `celery_app` sees it."""
    return redis_connection(flask_app_for(celery_app))
