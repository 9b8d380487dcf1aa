"""Recordings: the list on the home page, the audio for the player, and deleting one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_login import current_user
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy import func, select

from extensions import db, get_storage
from models import SessionAudio, Transcription, TranscriptionStatus, User
from security.ownership import load_visible_recording
from tasks.recordings import delete_recording
from tasks.service import TranscriptionService

log = logging.getLogger(__name__)

bp = Blueprint("recordings", __name__, url_prefix="/recordings")

PAGE_SIZE = 50
# What the player is told a stored file is. The browser's claim at upload is not trusted, and the
# stored name's extension is one the upload form allowed.
AUDIO_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "webm": "audio/webm",
               "ogg": "audio/ogg", "flac": "audio/flac", "mp4": "video/mp4"}


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """One line of the recordings list: the recording and its latest transcription."""

    id: int
    original_name: str
    duration_ms: int
    created_at: datetime
    audio_deleted_at: datetime | None
    owner: str | None
    transcription_id: int | None
    status: str | None
    engine: str | None
    model: str | None
    chunk_count: int
    chunks_done: int


def visible_recordings(page: int = 1) -> tuple[list[RecordingRow], bool]:
    """The signed-in user's recordings (an admin's: everyone's), newest first, one page of them;
    and whether older ones follow. Transcript texts and notes are not loaded."""
    if not current_user.is_authenticated:
        return [], False  # an error page met before sign-in (a 413 is raised while the form is read)
    latest = (select(func.max(Transcription.id)).where(Transcription.session_audio_id == SessionAudio.id)
              .correlate(SessionAudio).scalar_subquery())
    query = (
        select(SessionAudio.id, SessionAudio.original_name, SessionAudio.duration_ms, SessionAudio.created_at,
               SessionAudio.audio_deleted_at, User.username, Transcription.id, Transcription.status,
               Transcription.engine, Transcription.model, Transcription.chunk_count, Transcription.chunks_done)
        .outerjoin(Transcription, Transcription.id == latest)
        .outerjoin(User, User.id == SessionAudio.owner_id)
        .order_by(SessionAudio.created_at.desc(), SessionAudio.id.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    )
    if not current_user.is_admin:
        query = query.where(SessionAudio.owner_id == current_user.id)
    rows = [RecordingRow(*row[:10], row[10] or 0, row[11] or 0) for row in db.session.execute(query)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@bp.get("/<int:recording_id>/audio")
def audio(recording_id: int):
    """The recording for the page's player. Range requests are answered (206), so the player can
    seek anywhere in a two-hour file without downloading what lies before."""
    recording = load_visible_recording(recording_id)
    if recording.audio_deleted_at is not None:
        abort(404)
    try:
        path = get_storage().local_path(recording.audio_key)
    except FileNotFoundError:
        abort(404)
    extension = recording.stored_name.rsplit(".", 1)[-1].lower()
    response = send_file(path, mimetype=AUDIO_TYPES.get(extension, "application/octet-stream"), conditional=True,
                         etag=True)
    # Private like the pages: kept out of shared caches and the browser's disk cache (a seek asks again).
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:recording_id>/delete")
def confirm_delete(recording_id: int):
    """Deleting cannot be undone: this page asks first (a form, no script)."""
    recording = load_visible_recording(recording_id)
    latest = recording.latest_transcription
    running = latest is not None and latest.status in TranscriptionStatus.ACTIVE
    return render_template("confirm_delete.html", recording=recording, transcription=latest, running=running)


@bp.post("/<int:recording_id>/delete")
def delete(recording_id: int):
    """Stop its transcription if one runs, then remove the audio, the transcripts, the chunks and the job data."""
    recording = load_visible_recording(recording_id)
    name = recording.original_name
    service = TranscriptionService()
    for transcription in recording.transcriptions:
        if transcription.status in TranscriptionStatus.ACTIVE:
            service.cancel(transcription)
    try:
        delete_recording(recording.id)
    except (RedisError, OperationalError):
        log.warning("recording %s: job data could not be removed; nothing was deleted", recording_id, exc_info=True)
        db.session.rollback()
        flash(f"“{name}” could not be deleted now: the job queue does not answer. Try again in a moment.", "error")
        return redirect(url_for(".confirm_delete", recording_id=recording_id))
    log.info("recording %s deleted by user %s", recording_id, current_user.id)
    flash(f"Deleted “{name}”, its transcripts and its audio.", "info")
    return redirect(url_for("uploads.upload"))
