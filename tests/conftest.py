"""Shared fixtures: a real Redis on a free port, a real Celery worker process,
the Flask app and its test client, all pointed at one temporary SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.redis_server import RedisServer
from tests.support.worker import celery_worker


@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture(scope="session")
def test_env(redis_server, runtime_dir) -> dict[str, str]:
    """Environment shared by the test process's app and every worker it starts."""
    env = {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{runtime_dir / 'test.sqlite3'}",
        "CELERY_BROKER_URL": f"{redis_server.url}/0",
        "CELERY_RESULT_BACKEND": f"{redis_server.url}/1",
        "UPLOAD_FOLDER": str(runtime_dir / "uploads"),
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "TRANSCRIPTION_RETRY_DELAY_SECONDS": "0.2",
    }
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def app(test_env):
    from app import create_app

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"],
        "CELERY_BROKER_URL": test_env["CELERY_BROKER_URL"],
        "CELERY_RESULT_BACKEND": test_env["CELERY_RESULT_BACKEND"],
        "UPLOAD_FOLDER": test_env["UPLOAD_FOLDER"],
    })
    yield app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def worker(app, test_env, runtime_dir):
    """One real `celery worker` process for the whole session."""
    process = celery_worker(test_env, runtime_dir / "worker.log").start()
    yield process
    process.stop()
