"""Apps of their own for tests that need a database nobody else has touched (first start, ...)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def separate_app(base_app, folder: Path, **config):
    """An app like `base_app` (same broker, fake API) on a new, empty SQLite database and storage."""
    from app import create_app

    settings = {key: base_app.config[key] for key in (
        "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    settings.update(TESTING=True, SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'own.sqlite3'}",
                    UPLOAD_FOLDER=str(folder / "uploads"), **config)
    try:
        yield create_app(settings)
    finally:
        # create_app makes its Celery app the default; shared tasks must resolve to the session's again.
        base_app.extensions["celery"].set_current()
        base_app.extensions["celery"].set_default()


@contextmanager
def app_without_workers(app_with_broker):
    """An app like the session's (same database and storage) whose broker is a Redis of its own that
    no worker consumes: uploads are accepted and queued, and nothing transcribes them."""
    from tasks.redis_server import RedisServer

    with RedisServer() as redis:
        yield app_with_broker(f"{redis.url}/0")
