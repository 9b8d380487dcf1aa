"""Recordings, transcriptions and chunks made straight in the database, for tests about who sees
what and what gets deleted; and a fixture-style cleanup so no test leaves recordings behind."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from extensions import db, get_storage
from models import ChunkStatus, SessionAudio, TranscriptChunk, Transcription, TranscriptionStatus
from tests.support.accounts import ensure_user


def make_transcription(owner: str | None, *, status: str = TranscriptionStatus.FINISHED, chunks: int = 2,
                       text: str = "hello world", audio: bytes | Path = b"ID3 not really audio",
                       created_at: datetime | None = None, job_id: str = "") -> Transcription:
    """A recording of `owner` (a username, made a non-admin user if new; None for no owner) with its
    file in storage and one transcription of `chunks` chunks. Needs an app context."""
    owner_id = ensure_user(owner).id if owner else None
    session_audio = SessionAudio(original_name="session.mp3", stored_name=f"{uuid.uuid4().hex}.mp3",
                                 size_bytes=10, duration_ms=chunks * 60_000, owner_id=owner_id)
    if created_at is not None:
        session_audio.created_at = created_at
    storage = get_storage()
    source = Path(audio) if isinstance(audio, Path) else None
    if source is None:
        source = Path(storage.incoming_dir) / f"fixture-{uuid.uuid4().hex}.part"
        source.write_bytes(audio)
    storage.put_file(session_audio.audio_key, source, move=isinstance(audio, bytes))
    done = status == TranscriptionStatus.FINISHED
    transcription = Transcription(session_audio=session_audio, status=status, chunk_count=chunks,
                                  chunks_done=chunks if done else chunks // 2, text=text if done else "",
                                  job_id=job_id)
    for index in range(chunks):
        finished = done or index < chunks // 2
        transcription.chunks.append(TranscriptChunk(
            index=index, start_ms=index * 60_000, end_ms=(index + 1) * 60_000,
            status=ChunkStatus.DONE if finished else ChunkStatus.PENDING,
            text=f"{text} part {index}" if finished else None))
    db.session.add_all([session_audio, transcription])
    db.session.commit()
    return transcription


@contextmanager
def recordings_removed_afterwards(app):
    """Delete every recording made inside the block (rows, files, job data), whatever happens."""
    from tasks.recordings import delete_recording

    with app.app_context():
        last_id = db.session.scalar(select(func.max(SessionAudio.id))) or 0
    try:
        yield
    finally:
        with app.app_context():
            for session_audio_id in db.session.scalars(select(SessionAudio.id).where(SessionAudio.id > last_id)):
                delete_recording(session_audio_id)
