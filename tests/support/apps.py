"""Apps of their own for tests."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def app_without_workers(app_with_broker):
    """An app like the session's (same database and storage) whose broker is a Redis of its own that
    no worker consumes: uploads are accepted and queued, and nothing transcribes them."""
    from tasks.redis_server import RedisServer

    with RedisServer() as redis:
        yield app_with_broker(f"{redis.url}/0")
