"""The service API existing callers use, and the Celery task's own handle."""

import logging
import uuid

import pytest

from extensions import db, get_storage
from models import SessionAudio, Transcription
from tasks.pipeline import new_transcription, process_session_audio_task
from tasks.service import TranscriptionService
from tests.support.dtmf import words_text
from transcription.audio import probe


@pytest.fixture()
def session_audio(app, make_recording, monkeypatch):
    """A recording stored and recorded the way the upload form does it, without a transcription yet."""
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 30)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_CONCURRENCY", 3)  # 70 s: 3 chunks of about 23 s
    path, words = make_recording(70, seed=11)
    with app.app_context():
        stored = SessionAudio(original_name="call.mp3", stored_name=f"{uuid.uuid4().hex}.mp3",
                              size_bytes=path.stat().st_size, duration_ms=probe(path).duration_ms)
        get_storage().put_file(stored.audio_key, path)
        db.session.add(stored)
        db.session.commit()
        yield stored.id, words


def test_async_returns_a_handle_with_id_ready_and_get(app, worker, fake_openai, session_audio):
    session_audio_id, words = session_audio
    with app.app_context():
        handle = TranscriptionService().process_session_audio_async(
            session_audio=db.session.get(SessionAudio, session_audio_id),
            previous_transcript="earlier words", session_notes="With Carol Diaz", use_celery=True)
        assert handle.id
        result = handle.get(timeout=60)
        assert handle.ready()
    assert result["status"] == "finished"
    assert result["text"] == words_text(words)
    assert fake_openai.requests[0].prompt.endswith("earlier words") and "Carol" in fake_openai.requests[0].prompt


def test_use_celery_false_runs_here_and_says_so(app, fake_openai, session_audio, caplog):
    caplog.set_level(logging.INFO)
    session_audio_id, words = session_audio
    with app.app_context():
        handle = TranscriptionService().process_session_audio_async(
            session_audio=db.session.get(SessionAudio, session_audio_id), use_celery=False)
    assert handle.ready() and handle.get(timeout=1)["text"] == words_text(words)
    assert "synchronously" in caplog.text


def test_unreachable_broker_falls_back_to_running_here(app_with_broker, dead_broker_url, fake_openai, session_audio,
                                                      caplog):
    caplog.set_level(logging.INFO)
    session_audio_id, words = session_audio
    with app_with_broker(dead_broker_url).app_context():
        handle = TranscriptionService().process_session_audio_async(
            session_audio=db.session.get(SessionAudio, session_audio_id))
    assert handle.get(timeout=1)["text"] == words_text(words)
    assert "Broker unreachable" in caplog.text and "synchronously" in caplog.text


def test_task_delay_gives_state_and_info(app, worker, fake_openai, session_audio):
    session_audio_id, words = session_audio
    with app.app_context():
        result = process_session_audio_task.delay(session_audio_id=session_audio_id, previous_transcript="",
                                                  session_notes="")
        assert result.state in ("PENDING", "STARTED", "SUCCESS")
        outcome = result.get(timeout=60)
        assert result.state == "SUCCESS"
        assert result.info["status"] == "finished"
        # The task's result holds no text (Celery logs results); the text is in the database.
        assert "text" not in outcome
        assert db.session.get(Transcription, outcome["transcription_id"]).text == words_text(words)


def test_running_the_task_again_sends_no_chunk_twice(app, worker, fake_openai, session_audio):
    session_audio_id, words = session_audio
    with app.app_context():
        new_transcription(db.session.get(SessionAudio, session_audio_id), app.config)  # 30-second chunks
        db.session.commit()
        first = process_session_audio_task.delay(session_audio_id).get(timeout=60)
        again = process_session_audio_task.delay(session_audio_id).get(timeout=60)
        texts = [db.session.get(Transcription, result["transcription_id"]).text for result in (first, again)]
    assert texts == [words_text(words)] * 2
    assert len(fake_openai.requests) == first["chunk_count"] == 3
