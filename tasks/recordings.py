"""Deleting a recording, or only its audio, for the retention policy and for a delete button.

The steps run in an order that never strands anything: job data and files
first, the rows last (they are how the rest is found). Each step can run again,
so a deletion stopped anywhere is completed by the next attempt.
"""

from __future__ import annotations

from celery.result import AsyncResult
from flask import current_app

from extensions import db, get_storage
from models import SessionAudio, utcnow
from tasks.rq import redis_connection
from tasks.rq.job import Job


def delete_recording(session_audio_id: int) -> bool:
    """Remove the recording and every trace of it: its files in storage (upload and working
    copy), its jobs' data in Redis, and its rows (transcriptions and chunks). False if it was gone."""
    session_audio = db.session.get(SessionAudio, session_audio_id)
    if session_audio is None:
        return False
    forget_jobs(session_audio)
    _delete_files(session_audio)
    db.session.delete(session_audio)
    db.session.commit()
    return True


def delete_audio(session_audio_id: int) -> bool:
    """Remove the recording's files but keep its transcripts; it can no longer be transcribed again.
    False if there was nothing to delete."""
    session_audio = db.session.get(SessionAudio, session_audio_id)
    if session_audio is None or session_audio.audio_deleted_at is not None:
        return False
    _delete_files(session_audio)
    session_audio.audio_deleted_at = utcnow()
    db.session.commit()
    return True


def forget_jobs(session_audio: SessionAudio) -> None:
    """Delete what Redis holds about the recording's jobs: Celery results and tasks.rq job records.

    Raises if Redis cannot be reached, so the deletion is retried rather than leaving data behind.
    """
    job_ids = [t.job_id for t in session_audio.transcriptions if t.job_id]
    if not job_ids:
        return
    celery_app = current_app.extensions["celery"]
    connection = redis_connection()
    for job_id in job_ids:
        AsyncResult(job_id, app=celery_app).forget()
        if Job.exists(job_id, connection):
            Job.fetch(job_id, connection=connection).delete()


def _delete_files(session_audio: SessionAudio) -> None:
    storage = get_storage()
    storage.delete(session_audio.work_key)
    storage.delete(session_audio.audio_key)
