"""Retention: deleting a recording removes its files, rows and job data; the beat task deletes
audio (and with RETENTION_DELETE_TRANSCRIPTS everything) older than RETENTION_DAYS."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest
from celery.result import AsyncResult
from sqlalchemy import select

from extensions import db, get_storage
from models import SessionAudio, TranscriptChunk, Transcription, utcnow
from tasks.recordings import delete_recording
from tasks.retention import apply_retention
from tasks.rq import Queue, redis_connection
from tasks.rq.job import Job
from tests.jobs_api import jobs
from tests.support.recordings import make_transcription, recordings_removed_afterwards


def rows_of(session_audio_id: int) -> tuple[int, int, int]:
    transcription_ids = select(Transcription.id).where(Transcription.session_audio_id == session_audio_id)
    return (len(db.session.scalars(select(SessionAudio.id).where(SessionAudio.id == session_audio_id)).all()),
            len(db.session.scalars(transcription_ids).all()),
            len(db.session.scalars(select(TranscriptChunk.id).where(
                TranscriptChunk.transcription_id.in_(transcription_ids))).all()))


@pytest.fixture()
def recording_with_everything(app, tmp_path):
    """A recording with its upload and working copy in storage, a Celery result and a tasks.rq job."""
    job_id = f"retention-{uuid.uuid4().hex}"
    with recordings_removed_afterwards(app), app.app_context():
        queue = Queue(f"idle-{uuid.uuid4().hex[:8]}", connection=redis_connection())
        queue.enqueue(jobs.echo, "job data", job_id=job_id)
        app.extensions["celery"].backend.store_result(job_id, {"transcription_id": 0}, "SUCCESS")
        transcription = make_transcription("alice", job_id=job_id)
        session_audio = transcription.session_audio
        work = tmp_path / "work.wav"
        work.write_bytes(b"RIFF working copy")
        get_storage().put_file(session_audio.work_key, work)
        yield session_audio.id, job_id
        queue.delete()


def test_deleting_a_recording_removes_its_files_rows_and_job_data(app, recording_with_everything):
    session_audio_id, job_id = recording_with_everything
    with app.app_context():
        session_audio = db.session.get(SessionAudio, session_audio_id)
        keys = [session_audio.audio_key, session_audio.work_key]
        storage = get_storage()
        assert all(storage.exists(key) for key in keys) and rows_of(session_audio_id) == (1, 1, 2)
        assert Job.exists(job_id, redis_connection())
        assert AsyncResult(job_id, app=app.extensions["celery"]).state == "SUCCESS"

        assert delete_recording(session_audio_id) is True

        assert not any(storage.exists(key) for key in keys)
        assert rows_of(session_audio_id) == (0, 0, 0)
        assert not Job.exists(job_id, redis_connection())
        assert AsyncResult(job_id, app=app.extensions["celery"]).state == "PENDING", "the result is gone"
        assert delete_recording(session_audio_id) is False, "deleting twice is harmless"


@pytest.fixture()
def aged(app):
    """Recordings 40 days old (finished, failed, running) and one from today."""
    old = utcnow() - timedelta(days=40)
    with recordings_removed_afterwards(app):
        with app.app_context():
            made = {name: make_transcription("alice", status=status, created_at=created, text=f"{name} words")
                    for name, status, created in [("old", "finished", old), ("old_failed", "failed", old),
                                                  ("old_running", "running", old), ("new", "finished", None)]}
            ids = {name: (t.id, t.session_audio_id, t.session_audio.audio_key) for name, t in made.items()}
        yield ids


def run_retention(app, monkeypatch, **settings) -> dict:
    for key, value in {"RETENTION_DAYS": 30, "RETENTION_DELETE_TRANSCRIPTS": False, **settings}.items():
        monkeypatch.setitem(app.config, key, value)
    with app.app_context():
        return apply_retention.apply().get()


def test_retention_deletes_old_audio_and_keeps_the_transcripts(app, client, aged, monkeypatch):
    outcome = run_retention(app, monkeypatch)
    assert outcome["audio_deleted"] >= 2 and outcome["recordings_deleted"] == 0
    storage = app.extensions["storage"]
    with app.app_context():
        for name, expect_audio in [("old", False), ("old_failed", False), ("old_running", True), ("new", True)]:
            transcription_id, session_audio_id, audio_key = aged[name]
            assert storage.exists(audio_key) is expect_audio, name
            assert (db.session.get(SessionAudio, session_audio_id).audio_deleted_at is None) is expect_audio, name
    page = client.get(f"/transcriptions/{aged['old'][0]}")
    assert page.status_code == 200 and "old words" in page.get_data(as_text=True), "the transcript stays"
    failed = client.get(f"/transcriptions/{aged['old_failed'][0]}/progress").get_data(as_text=True)
    assert "Retry" not in failed, "nothing to retry without the audio"
    assert run_retention(app, monkeypatch)["audio_deleted"] == 0, "a second run has nothing to do"


def test_retention_can_delete_everything(app, aged, monkeypatch):
    run_retention(app, monkeypatch, RETENTION_DELETE_TRANSCRIPTS=True)
    with app.app_context():
        for name, expect_row in [("old", False), ("old_failed", False), ("old_running", True), ("new", True)]:
            transcription_id, session_audio_id, audio_key = aged[name]
            assert (db.session.get(Transcription, transcription_id) is not None) is expect_row, name
            assert app.extensions["storage"].exists(audio_key) is expect_row, name


def test_zero_days_keeps_everything(app, aged, monkeypatch):
    outcome = run_retention(app, monkeypatch, RETENTION_DAYS=0, RETENTION_DELETE_TRANSCRIPTS=True)
    assert outcome["recordings_deleted"] == outcome["audio_deleted"] == 0
    with app.app_context():
        assert all(db.session.get(Transcription, ids[0]) for ids in aged.values())


def test_partial_uploads_left_by_a_crash_are_swept(app, monkeypatch):
    incoming = app.extensions["storage"].incoming_dir
    stale, fresh = incoming / "upload-stale.part", incoming / "upload-fresh.part"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress")
    day_and_a_bit_ago = time.time() - 26 * 3600
    os.utime(stale, (day_and_a_bit_ago, day_and_a_bit_ago))
    try:
        assert run_retention(app, monkeypatch, RETENTION_DAYS=0)["stale_uploads_deleted"] == 1
        assert not stale.exists() and fresh.exists()
    finally:
        fresh.unlink(missing_ok=True)


def test_beat_runs_retention(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["apply-retention"]["task"] == "tasks.retention.apply_retention"
    assert schedule["apply-retention"]["schedule"] == app.config["RETENTION_INTERVAL_SECONDS"]
