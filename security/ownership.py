"""Who may see a recording: its owner, and admins. Everyone else gets a 404.

Routes about one transcription take it through `with_transcription`, which
loads it together with its recording, its chunks and the signed-in user in a
single SQL statement: the progress fragment is polled every 2 s by every open
page, so a poll costs exactly one query, sign-in check included.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from extensions import db
from models import SessionAudio, Transcription, User
from security.login import session_claim, set_current_user, sign_in_response, verifies_viewer


def visible_to(statement: Select, viewer: User) -> Select:
    """Restrict a statement over SessionAudio (joined in) to the recordings `viewer` may see."""
    return statement if viewer.is_admin else statement.where(SessionAudio.owner_id == viewer.id)


def load_visible_transcription(transcription_id: int) -> Transcription:
    """The transcription with its recording and chunks, if the signed-in user may see it.

    Aborts with 404 if it does not exist or belongs to someone else, and sends a
    visitor whose session names no valid user to sign in.
    """
    claim = session_claim()
    if claim is not None:
        viewer = aliased(User, name="viewer")
        row = db.session.execute(
            select(Transcription, viewer)
            .join(Transcription.session_audio)
            .join(viewer, and_(viewer.id == claim.user_id, viewer.session_token == claim.session_token))
            .where(Transcription.id == transcription_id, or_(viewer.is_admin, SessionAudio.owner_id == viewer.id))
            .options(contains_eager(Transcription.session_audio), joinedload(Transcription.chunks))
        ).unique().one_or_none()
        if row is not None:
            transcription, user = row
            set_current_user(user)
            return transcription
    # Not found: only now find out whether the user is real (one more query, off the hot path).
    if not current_user.is_authenticated:
        abort(sign_in_response())
    abort(404)


def with_transcription(view: Callable) -> Callable:
    """For routes with <int:transcription_id>: call the view with the transcription, loaded as above."""

    @wraps(view)
    def wrapper(transcription_id: int, **kwargs):
        return view(load_visible_transcription(transcription_id), **kwargs)

    return verifies_viewer(wrapper)
