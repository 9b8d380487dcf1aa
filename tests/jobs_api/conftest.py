"""Fixtures for the job API tests: a Redis client for job data and a worker on RQ-style queues."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.support.worker import celery_worker

JOB_QUEUES = "default,high,low"


@pytest.fixture(scope="session")
def connection(test_env) -> redis.Redis:
    """The Redis holding job data: the result backend's (RQ_REDIS_URL's default)."""
    client = redis.Redis.from_url(test_env["CELERY_RESULT_BACKEND"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def broker(test_env) -> redis.Redis:
    """Celery's broker, to look at the messages themselves."""
    client = redis.Redis.from_url(test_env["CELERY_BROKER_URL"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def jobs_worker(app, test_env, runtime_dir):
    """A plain `celery worker -Q default,high,low`, its scheduler ticking every 0.2 s."""
    env = {**test_env, "RQ_SCHEDULER_INTERVAL": "0.2"}
    process = celery_worker(env, runtime_dir / "jobs-worker.log", queues=JOB_QUEUES, concurrency=2,
                            hostname="jobs-api@%h").start()
    yield process
    process.stop()


@pytest.fixture()
def idle_queue_name() -> str:
    """A queue no worker consumes, fresh for each test: its jobs stay queued."""
    return f"idle-{uuid.uuid4().hex[:8]}"
