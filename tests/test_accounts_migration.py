"""A database from before accounts (no users table, no owner column) is brought up to date on start."""

from __future__ import annotations

import sqlite3

from sqlalchemy import MetaData, Table, create_engine, inspect

import database
from extensions import db
from models import SessionAudio
from tests.support.databases import own_app

ACCOUNT_COLUMNS = {"owner_id", "audio_deleted_at"}


def pre_accounts_metadata() -> MetaData:
    """models.py as it was before accounts: no users table, no owner or audio-deleted column."""
    old = MetaData()
    for table in db.metadata.sorted_tables:
        if table.name == "users":
            continue
        columns = [column._copy() for column in table.columns
                   if not (table.name == "session_audio" and column.name in ACCOUNT_COLUMNS)]
        Table(table.name, old, *columns)
    return old


def test_a_pre_accounts_database_gets_users_and_owners(app, tmp_path):
    path = tmp_path / "before-accounts.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    pre_accounts_metadata().create_all(engine)
    engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO session_audio (original_name, stored_name, content_type, size_bytes, "
                           "duration_ms, session_notes, previous_transcript, created_at) "
                           "VALUES ('old.mp3', 'abc.mp3', '', 1, 1, '', '', '2026-01-01 00:00:00')")
    with own_app(app, tmp_path, f"sqlite:///{path}") as adopted:
        with adopted.app_context():
            assert database.current_revision(db.engine) == database.head_revision()
            inspector = inspect(db.engine)
            assert inspector.has_table("users")
            assert ACCOUNT_COLUMNS <= {c["name"] for c in inspector.get_columns("session_audio")}
            old = db.session.scalars(db.select(SessionAudio)).one()
            assert old.original_name == "old.mp3" and old.owner_id is None, "kept, for admins only"
        browser = adopted.test_client(user=None)
        assert browser.get("/").headers["Location"] == "/setup", "first start: create the admin"
