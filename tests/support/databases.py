"""The database the tests run on: a fresh PostgreSQL database when the server on
127.0.0.1:5432 answers, else a SQLite file.

TEST_DATABASE=sqlite or TEST_DATABASE=postgresql picks one (postgresql then
fails loudly if the server is not there); TEST_POSTGRES_URL names the server
(default: postgresql://127.0.0.1:5432/postgres, as the current OS user).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from extensions import db
from tests.support.worker import REPO_ROOT

DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_answers(url: str | None = None) -> bool:
    try:
        with psycopg.connect(url or postgres_admin_url(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def postgres_database(admin_url: str | None = None, prefix: str = "transcriber_test") -> Iterator[str]:
    """A new, empty database for the duration of the block; its SQLAlchemy URL (psycopg 3)."""
    admin_url = admin_url or postgres_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            # FORCE: a worker killed by a test may have left a connection behind.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def session_database(folder: Path) -> Iterator[str]:
    """The SQLAlchemy URL of the test session's database (see the module docstring)."""
    choice = os.environ.get("TEST_DATABASE", "auto").lower()
    if choice not in ("auto", "sqlite", "postgresql"):
        raise ValueError(f"TEST_DATABASE must be auto, sqlite or postgresql, got {choice!r}")
    if choice == "postgresql" or (choice == "auto" and postgres_answers()):
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'test.sqlite3'}"


def schema_differences(engine) -> list:
    """What Alembic's autogenerate would change to make the database match models.py ([] when equal)."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


@contextlib.contextmanager
def own_app(base_app, tmp_path, database_url: str, **config):
    """An app on a database of its own, like the session app otherwise."""
    from app import create_app

    settings = {key: base_app.config[key] for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    settings.update(TESTING=True, SQLALCHEMY_DATABASE_URI=database_url, UPLOAD_FOLDER=str(tmp_path / "uploads"))
    settings.update(config)
    try:
        yield create_app(settings)
    finally:
        # create_app makes its Celery app the default; shared tasks must resolve to the session's again.
        base_app.extensions["celery"].set_current()
        base_app.extensions["celery"].set_default()


def start_apps_at_once(database_url: str, count: int, tmp_path) -> list[subprocess.CompletedProcess]:
    """Start `count` processes that each create the app on `database_url` at the same moment."""
    script = "from app import create_app; create_app(); print('started')"
    env = {"DATABASE_URL": database_url, "UPLOAD_FOLDER": str(tmp_path / "uploads"), "APP_ENV": "testing",
           "SECRET_KEY": "test-secret-key", "PATH": "/usr/bin:/bin"}
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(count)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results
