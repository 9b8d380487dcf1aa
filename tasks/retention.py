"""The retention policy, run by beat: recordings older than RETENTION_DAYS lose their audio,
or with RETENTION_DELETE_TRANSCRIPTS everything (tasks/recordings.py). RETENTION_DAYS=0 keeps all.

Recordings with a queued or running transcription wait until it has ended.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from extensions import db, get_storage
from models import SessionAudio, Transcription, TranscriptionStatus, utcnow
from tasks.recordings import delete_audio, delete_recording

log = logging.getLogger(__name__)

# An upload streams into the incoming folder for at most GUNICORN_TIMEOUT (15 minutes by
# default); a part file much older than that was left by a web process that died mid-upload.
STALE_UPLOAD_SECONDS = 24 * 3600


@shared_task(name="tasks.retention.apply_retention")
def apply_retention() -> dict:
    """Apply the retention policy now; returns how many recordings lost audio or were deleted."""
    days = int(current_app.config["RETENTION_DAYS"])
    outcome = {"recordings_deleted": 0, "audio_deleted": 0,
               "stale_uploads_deleted": remove_stale_uploads(STALE_UPLOAD_SECONDS)}
    if days <= 0:
        return outcome
    delete_everything = bool(current_app.config["RETENTION_DELETE_TRANSCRIPTS"])
    for session_audio_id in expired_recordings(days, include_audio_deleted=delete_everything):
        if delete_everything:
            outcome["recordings_deleted"] += delete_recording(session_audio_id)
        else:
            outcome["audio_deleted"] += delete_audio(session_audio_id)
    if outcome["recordings_deleted"] or outcome["audio_deleted"]:
        log.info("retention (%d days): %s", days, outcome)
    return outcome


def expired_recordings(days: int, *, include_audio_deleted: bool) -> list[int]:
    """Ids of recordings created more than `days` ago whose transcriptions have all ended."""
    active = select(Transcription.id).where(
        Transcription.session_audio_id == SessionAudio.id, Transcription.status.in_(TranscriptionStatus.ACTIVE))
    statement = select(SessionAudio.id).where(
        SessionAudio.created_at < utcnow() - timedelta(days=days), ~active.exists())
    if not include_audio_deleted:
        statement = statement.where(SessionAudio.audio_deleted_at.is_(None))
    return list(db.session.scalars(statement.order_by(SessionAudio.id)))


def remove_stale_uploads(older_than_seconds: float) -> int:
    """Delete partial uploads a crashed web process left in the storage's incoming folder."""
    incoming = getattr(get_storage(), "incoming_dir", None)
    if incoming is None:
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in incoming.glob("upload-*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # finished or removed meanwhile
    return removed
