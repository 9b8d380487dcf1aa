"""SQLite, the default database, whatever the rest of the suite runs on: first start, migrations
against the models, an old database from before migrations, and a recording through a worker."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, inspect

import database
from extensions import db
from models import Transcription
from tasks.redis_server import RedisServer
from tests.support.databases import own_app, schema_differences, start_apps_at_once
from tests.support.dtmf import words_text
from tests.support.web import transcription_id_from, upload, wait_for_status
from tests.support.worker import celery_worker


def test_first_start_on_a_new_sqlite_file_creates_the_schema_from_the_migrations(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    with own_app(app, tmp_path, url) as fresh, fresh.app_context():
        assert database.current_revision(db.engine) == database.head_revision()
        assert schema_differences(db.engine) == []


def test_with_auto_migrate_off_flask_db_upgrade_creates_the_schema(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'manual.sqlite3'}"
    with own_app(app, tmp_path, url, AUTO_MIGRATE=False) as fresh:
        with fresh.app_context():
            assert not inspect(db.engine).has_table("transcription")
        result = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        with fresh.app_context():
            assert database.current_revision(db.engine) == database.head_revision()
            assert schema_differences(db.engine) == []


def test_a_database_from_before_migrations_is_adopted_and_keeps_its_rows(app, tmp_path):
    path = tmp_path / "old.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    db.metadata.create_all(engine)  # what create_app did before there were migrations
    engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO session_audio (original_name, stored_name, content_type, size_bytes, "
                           "duration_ms, session_notes, previous_transcript, created_at) "
                           "VALUES ('old.mp3', 'abc.mp3', '', 1, 1, '', '', '2026-01-01 00:00:00')")
    with own_app(app, tmp_path, f"sqlite:///{path}") as adopted, adopted.app_context():
        assert database.current_revision(db.engine) == database.head_revision()
        assert db.session.execute(db.text("SELECT original_name FROM session_audio")).scalar() == "old.mp3"


def test_processes_starting_together_on_a_new_sqlite_file_all_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    results = start_apps_at_once(url, 3, tmp_path)
    assert all(r.returncode == 0 and "started" in r.stdout for r in results), [r.stderr[-2000:] for r in results]
    assert sum("Upgrading the database schema" in r.stdout + r.stderr for r in results) == 1, "one migrated"
    engine = create_engine(url)
    assert schema_differences(engine) == []
    engine.dispose()


@pytest.fixture()
def sqlite_stack(app, test_env, tmp_path):
    """Redis, a worker and an app, all on a SQLite file of their own."""
    url = f"sqlite:///{tmp_path / 'stack.sqlite3'}"
    with RedisServer() as redis:
        broker = {"CELERY_BROKER_URL": f"{redis.url}/0", "CELERY_RESULT_BACKEND": f"{redis.url}/1"}
        with own_app(app, tmp_path, url, **broker, OPENAI_API_KEY=test_env["OPENAI_API_KEY"],
                     OPENAI_BASE_URL=test_env["OPENAI_BASE_URL"], CHUNK_SECONDS=10) as own:
            env = {**test_env, **broker, "DATABASE_URL": url, "UPLOAD_FOLDER": own.config["UPLOAD_FOLDER"]}
            worker = celery_worker(env, tmp_path / "worker.log", hostname="sqlite@%h").start()
            try:
                yield own
            finally:
                worker.kill()


def test_a_recording_completes_on_sqlite(sqlite_stack, fake_openai, make_recording):
    path, words = make_recording(25, seed=31)
    transcription_id = transcription_id_from(upload(sqlite_stack.test_client(), path))
    transcription = wait_for_status(sqlite_stack, transcription_id, timeout=90)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)
    with sqlite_stack.app_context():
        assert db.engine.dialect.name == "sqlite"
        assert len(db.session.get(Transcription, transcription_id).chunks) >= 2
