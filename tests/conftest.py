"""Shared fixtures: a real Redis on a free port, a real Celery worker process,
the Flask app and its test client, all pointed at one temporary SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from tasks.redis_server import RedisServer
from tests.support.accounts import SignedInClient
from tests.support.app_config import app_config
from tests.support.fake_openai import FakeOpenAI
from tests.support.worker import celery_worker


@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture(scope="session")
def fake_openai_server():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture()
def fake_openai(fake_openai_server):
    """The fake transcription API with an empty ledger and no faults."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture(scope="session")
def database_url(runtime_dir):
    """PostgreSQL on 127.0.0.1:5432 when it answers (a fresh database, dropped at the end), else SQLite."""
    from tests.support.databases import session_database

    with session_database(runtime_dir) as url:
        yield url


@pytest.fixture(scope="session")
def test_env(redis_server, runtime_dir, fake_openai_server, database_url) -> dict[str, str]:
    """Environment shared by the test process's app and every worker it starts."""
    env = {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"{redis_server.url}/0",
        "CELERY_RESULT_BACKEND": f"{redis_server.url}/1",
        "UPLOAD_FOLDER": str(runtime_dir / "uploads"),
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OPENAI_BASE_URL": fake_openai_server.base_url,
        "OPENAI_TIMEOUT_SECONDS": "4",
        "TRANSCRIPTION_RETRY_DELAY_SECONDS": "0.2",
        "HEARTBEAT_SECONDS": "0.5",
        "STALE_AFTER_SECONDS": "3",
        "RECOVERY_INTERVAL_SECONDS": "1",
        "PIPELINE_POLL_SECONDS": "0.2",
    }
    # Celery reads CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment
    # before its own config; keep them out of this process so each app's own
    # config decides (workers get them through their env).
    os.environ.update({key: value for key, value in env.items() if not key.startswith("CELERY_")})
    return env


@pytest.fixture(scope="session")
def app(test_env):
    from app import create_app

    app = create_app(app_config(test_env))
    yield app


@pytest.fixture(scope="session", autouse=True)
def signed_in_test_clients():
    """Every page needs a login: `app.test_client()` of any app signs in as the default admin user
    (tests.support.accounts); `app.test_client(user=None)` is anonymous."""
    previous = Flask.test_client_class
    Flask.test_client_class = SignedInClient
    yield
    Flask.test_client_class = previous


@pytest.fixture()
def client(app):
    """Signed in as the default user, an admin."""
    return app.test_client()


@pytest.fixture()
def anonymous_client(app):
    return app.test_client(user=None)


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def worker(app, test_env, runtime_dir):
    """One real `celery worker` process for the whole session."""
    process = celery_worker(test_env, runtime_dir / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def make_recording(tmp_path_factory):
    """make_recording(seconds, seed=1, ext=".mp3", **script_options) -> (path, words); cached per session."""
    from tests.support.audio_files import write_audio
    from tests.support.dtmf import dtmf_script

    folder = tmp_path_factory.mktemp("recordings")
    cache: dict = {}

    def make(seconds: float, seed: int = 1, ext: str = ".mp3", **script_options):
        key = (seconds, seed, ext, tuple(sorted(script_options.items())))
        if key not in cache:
            words = dtmf_script(seconds, seed, **script_options)
            path = folder / f"rec-{len(cache)}{ext}"
            write_audio(path, words, seconds)
            cache[key] = (path, words)
        return cache[key]

    return make


@pytest.fixture()
def app_with_broker(app):
    """app_with_broker(url, result_backend=url): another app on the same database and storage,
    whose broker is `url` (job data lives in the result backend's Redis, as on the workers)."""
    from app import create_app

    def make(broker_url: str, result_backend: str | None = None):
        return create_app({**{k: app.config[k] for k in (
            "SQLALCHEMY_DATABASE_URI", "UPLOAD_FOLDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CHUNK_SECONDS")},
            "TESTING": True, "CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": result_backend or broker_url})

    yield make
    # Shared tasks resolve through Celery's current app: make it the session's again.
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()


@pytest.fixture()
def dead_broker_url() -> str:
    from tasks.redis_server import free_port

    return f"redis://127.0.0.1:{free_port()}/0"
