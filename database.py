"""The database behind the app: its URL, and its schema kept at the latest migration.

The schema is defined by models.py and built by the Alembic migrations in
migrations/ (Flask-Migrate). Every process that starts the app (web, worker,
beat, CLI) makes sure the schema is current: a new database gets every
migration, an older one the missing ones, under a lock so that processes
starting together do not race. Set AUTO_MIGRATE=0 to run `flask db upgrade`
yourself instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate, stamp, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The first migration: what `db.create_all()` built before migrations existed.
INITIAL_REVISION = "0001"
# pg_advisory_lock key shared by every process of this app ("transcr" in ASCII).
POSTGRES_LOCK_KEY = 0x7472616E73637200

migrate = Migrate()


def init_app(app: Flask) -> None:
    """Use psycopg 3 for PostgreSQL URLs and register Flask-Migrate (`flask db ...`) with our migrations."""
    from extensions import db

    url = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("postgresql"):
        # A database host that does not answer fails a request (and /readyz) in seconds, not minutes.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["connect_args"] = {"connect_timeout": 5, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    # render_as_batch: SQLite can only change a table by copying it; Alembic's batch mode does that.
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)


def normalize_database_url(url: str) -> str:
    """postgres:// and postgresql:// use psycopg 3 (SQLAlchemy would look for psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None for a database without migration history."""
    with engine.connect() as connection:
        # Read directly: Alembic's MigrationContext would log two lines at every process start.
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(app: Flask, *, force: bool = False) -> None:
    """Bring the database to the latest migration (in an app context), unless AUTO_MIGRATE is off and not `force`."""
    from extensions import db

    engine = db.engine
    head = head_revision()
    if current_revision(engine) == head:
        return
    if not (force or app.config.get("AUTO_MIGRATE", True)):
        log.warning("The database schema is not at the latest migration (%s); run `flask db upgrade`.", head)
        return
    with migration_lock(engine):
        revision = current_revision(engine)  # another process may have done it meanwhile
        if revision == head:
            return
        if revision is None and inspect(engine).has_table("transcription"):
            # Built by create_all before migrations existed: it is the initial schema.
            log.info("Database without migration history: marking it as revision %s", INITIAL_REVISION)
            stamp(directory=str(MIGRATIONS_DIR), revision=INITIAL_REVISION)
        log.info("Upgrading the database schema from %s to %s", revision or "nothing", head)
        upgrade(directory=str(MIGRATIONS_DIR))


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Only one process at a time migrates: a PostgreSQL advisory lock, or a lock file beside a SQLite file."""
    url = make_url(engine.url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": POSTGRES_LOCK_KEY})
                connection.commit()
    elif engine.dialect.name == "sqlite" and url.database and url.database != ":memory:":
        with open(f"{url.database}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    else:
        yield
