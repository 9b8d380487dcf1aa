"""Who may see a recording: its owner, and admins. Everyone else gets a 404.

Routes about one transcription take it through `with_transcription`, which
reads it, its recording, its chunks and the signed-in user in a single SQL
statement. The progress fragment is polled every 2 s by every open page, so a
poll costs exactly one query, sign-in check included; the statement is built
once and its rows become plain objects (transcription_view), not ORM entities,
because both building and hydrating cost more than the query itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, and_, bindparam, or_, select

from extensions import db
from models import SessionAudio, TranscriptChunk, Transcription, User
from security.login import session_claim, set_current_user, sign_in_response, verifies_viewer
from transcription_view import COLUMNS, TIMED_COLUMNS, TranscriptionView, from_rows

VIEWER_FIELDS = ("id", "username", "is_admin", "session_token")


@cache
def _transcription_with_viewer(timed: bool) -> Select:
    transcriptions, recordings = Transcription.__table__, SessionAudio.__table__
    chunks, viewer = TranscriptChunk.__table__, User.__table__.alias("viewer")
    return (
        select(*(TIMED_COLUMNS if timed else COLUMNS), *(viewer.c[name].label(f"v_{name}") for name in VIEWER_FIELDS))
        .select_from(
            transcriptions
            .join(recordings, recordings.c.id == transcriptions.c.session_audio_id)
            .join(viewer, and_(viewer.c.id == bindparam("user_id"),
                               viewer.c.session_token == bindparam("session_token")))
            .outerjoin(chunks, chunks.c.transcription_id == transcriptions.c.id)
        )
        .where(transcriptions.c.id == bindparam("transcription_id"),
               or_(viewer.c.is_admin, recordings.c.owner_id == viewer.c.id))
        .order_by(chunks.c.index)
    )


def load_visible_transcription(transcription_id: int, *, timed: bool = False) -> TranscriptionView:
    """The transcription with its recording and chunks (with their timed segments if `timed`),
    if the signed-in user may see it.

    Aborts with 404 if it does not exist or belongs to someone else, and sends a
    visitor whose session names no valid user to sign in.
    """
    claim = session_claim()
    if claim is not None:
        # A connection of its own, not the ORM session: nothing here is an entity, and the
        # session's setup and teardown would cost as much as the query.
        with db.engine.connect() as connection:
            rows = connection.execute(_transcription_with_viewer(timed), {
                "transcription_id": transcription_id, "user_id": claim.user_id,
                "session_token": claim.session_token,
            }).all()
            dialect = connection.dialect
        if rows:
            first = rows[0]._mapping
            set_current_user(User(**{name: first[f"v_{name}"] for name in VIEWER_FIELDS}))
            return from_rows(rows, dialect, timed=timed)
    # Not found: only now find out whether the user is real (one more query, off the hot path).
    if not current_user.is_authenticated:
        abort(sign_in_response())
    abort(404)


def with_transcription(view: Callable | None = None, *, timed: bool = False) -> Callable:
    """For routes with <int:transcription_id>: call the view with the TranscriptionView, loaded as above.
    `@with_transcription(timed=True)` loads the chunks' timed segments too."""
    if view is None:
        return lambda view: with_transcription(view, timed=timed)

    @wraps(view)
    def wrapper(transcription_id: int, **kwargs):
        return view(load_visible_transcription(transcription_id, timed=timed), **kwargs)

    return verifies_viewer(wrapper)


def load_visible_recording(recording_id: int) -> SessionAudio:
    """The recording, if the signed-in user owns it or is an admin; else a 404, as for one that does not exist."""
    query = select(SessionAudio).where(SessionAudio.id == recording_id)
    if not current_user.is_admin:
        query = query.where(SessionAudio.owner_id == current_user.id)
    recording = db.session.scalars(query).one_or_none()
    if recording is None:
        abort(404)
    return recording
