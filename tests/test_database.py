"""The schema comes from the migrations, matches the models, and is created by whichever process starts first.

These run on the session's database (PostgreSQL when it answers, else SQLite)
and on a PostgreSQL database of their own; tests/test_database_sqlite.py does
the same on SQLite whatever the session runs on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

import database
from extensions import db
from tests.support.databases import (
    own_app,
    postgres_answers,
    postgres_database,
    schema_differences,
    start_apps_at_once,
)

needs_postgres = pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL on 127.0.0.1:5432")


def test_the_session_database_is_at_the_latest_migration_and_matches_the_models(app):
    with app.app_context():
        assert database.current_revision(db.engine) == database.head_revision()
        assert schema_differences(db.engine) == []


def test_flask_db_upgrade_is_there_and_has_nothing_left_to_do(app, runner):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert database.current_revision(db.engine) == database.head_revision()


@pytest.mark.parametrize("url", [
    "postgresql://u:pw@db.example:5432/transcriber",
    "postgres://u:pw@db.example/transcriber",
])
def test_postgresql_urls_use_psycopg_3(url):
    assert database.normalize_database_url(url).startswith("postgresql+psycopg://u:pw@db.example")


def test_other_urls_are_left_alone():
    for url in ("sqlite:////tmp/x.sqlite3", "postgresql+psycopg://h/db", "mysql+pymysql://h/db"):
        assert database.normalize_database_url(url) == url


@needs_postgres
def test_a_plain_postgresql_url_gets_a_migrated_schema(app, tmp_path):
    with postgres_database(prefix="transcriber_plain") as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with own_app(app, tmp_path, plain) as fresh:
            with fresh.app_context():
                assert db.engine.url.drivername == "postgresql+psycopg"
                assert database.current_revision(db.engine) == database.head_revision()
                assert schema_differences(db.engine) == []
                db.engine.dispose()


@needs_postgres
def test_processes_starting_together_on_a_new_postgresql_database_all_start(tmp_path):
    with postgres_database(prefix="transcriber_race") as url:
        results = start_apps_at_once(url, 3, tmp_path)
        assert all(r.returncode == 0 and "started" in r.stdout for r in results), [r.stderr[-2000:] for r in results]
        assert sum("Upgrading the database schema" in r.stdout + r.stderr for r in results) == 1, "one migrated"
        engine = create_engine(url)
        try:
            assert database.current_revision(engine) == database.head_revision()
            assert "transcript_chunk" in inspect(engine).get_table_names()
            assert schema_differences(engine) == []
        finally:
            engine.dispose()
