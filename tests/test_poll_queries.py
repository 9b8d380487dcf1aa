"""The progress fragment is polled every 2 s by every open page: one SQL query per poll, sign-in check included."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from extensions import db
from tests.support.recordings import make_transcription, recordings_removed_afterwards


@contextmanager
def recorded_statements(app):
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("viewer", ["alice", None])  # the owner, and the default admin
@pytest.mark.parametrize("status, expected_status", [("running", 200), ("finished", 286)])
def test_a_poll_is_one_query(app, viewer, status, expected_status):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription_id = make_transcription("alice", status=status, chunks=6, text="spoken words").id
        browser = app.test_client(user=viewer) if viewer else app.test_client()
        browser.get("/")  # a page first, as a browser would: the session has its CSRF token
        with recorded_statements(app) as statements:
            response = browser.get(f"/transcriptions/{transcription_id}/progress", headers={"HX-Request": "true"})
        assert response.status_code == expected_status
        html = response.get_data(as_text=True)
        assert html.count('class="chunk chunk-') == 6, "chunks were loaded by that one query"
        assert len(statements) == 1, statements


def test_the_page_and_the_other_routes_of_a_transcription_are_one_query_too(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription_id = make_transcription("alice").id
        browser = app.test_client(user="alice")
        browser.get("/")
        for suffix in ("", "/transcript.txt"):
            with recorded_statements(app) as statements:
                assert browser.get(f"/transcriptions/{transcription_id}{suffix}").status_code == 200
            assert len(statements) == 1, (suffix, statements)
