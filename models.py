"""Database models: users, a recording, its transcriptions, and their chunks."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

from extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class TranscriptionStatus:
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"

    ACTIVE = (QUEUED, RUNNING)
    ENDED = (FINISHED, FAILED, CANCELED)


class ChunkStatus:
    PENDING = "pending"  # planned, waiting for a lane
    RUNNING = "running"  # a lane has it; heartbeat_at says the lane lives
    DONE = "done"  # the API answered and the text is saved: never sent again
    FAILED = "failed"


class PromptMode:
    SEQUENTIAL = "sequential"  # one chunk at a time, prompted with the previous chunk's text
    PARALLEL = "parallel"  # several chunks at once, prompted with notes and the previous session

    ALL = (SEQUENTIAL, PARALLEL)


def new_session_token() -> str:
    return secrets.token_hex(16)


class User(UserMixin, db.Model):
    """A person who signs in. Admins see every recording and manage users and jobs."""

    __tablename__ = "users"  # "user" is a reserved word in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of the login session's identity: changing it (on a password change)
    # signs out every other session of this user.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie: "<id>:<session_token>"."""
        return f"{self.id}:{self.session_token}"


class SessionAudio(db.Model):
    """An uploaded recording and what the user told us about it."""

    __tablename__ = "session_audio"

    id: Mapped[int] = mapped_column(primary_key=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(100), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    session_notes: Mapped[str] = mapped_column(Text, default="")
    previous_transcript: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who uploaded it. NULL for recordings from before accounts existed: only admins see those.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True, nullable=True)
    # Set when the retention policy removed the audio but kept the transcripts.
    audio_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    owner: Mapped[User | None] = relationship()
    transcriptions: Mapped[list[Transcription]] = relationship(
        back_populates="session_audio",
        cascade="all, delete-orphan",
        order_by="Transcription.id",
    )

    @property
    def audio_key(self) -> str:
        """Storage key of the uploaded file."""
        return f"audio/{self.stored_name}"

    @property
    def work_key(self) -> str:
        """Storage key of the 16 kHz mono working copy that chunks are cut from."""
        return f"work/{self.stored_name.rsplit('.', 1)[0]}.wav"

    @property
    def latest_transcription(self) -> Transcription | None:
        return self.transcriptions[-1] if self.transcriptions else None


class TranscriptionProgress:
    """How far a transcription is, from its status and counts; shared by the model and by
    transcription_view.TranscriptionView, what the pages read."""

    @property
    def is_ended(self) -> bool:
        return self.status in TranscriptionStatus.ENDED

    @property
    def progress_percent(self) -> int:
        if not self.chunk_count:
            return 100 if self.status == TranscriptionStatus.FINISHED else 0
        return round(100 * self.chunks_done / self.chunk_count)

    @property
    def processed_ms(self) -> int:
        """How much of the recording the finished chunks cover, each overlap counted once."""
        if self.status == TranscriptionStatus.FINISHED:
            return self.session_audio.duration_ms
        chunks = self.chunks
        covered = 0
        for position, chunk in enumerate(chunks):
            if chunk.status == ChunkStatus.DONE:
                end = chunk.end_ms if position + 1 == len(chunks) else min(chunk.end_ms, chunks[position + 1].start_ms)
                covered += max(0, end - chunk.start_ms)
        return covered

    @property
    def elapsed_ms(self) -> int:
        """Time spent on it since a worker started it (until it ended); 0 while queued."""
        if self.started_at is None:
            return 0
        until = self.finished_at if self.is_ended and self.finished_at else utcnow()
        return max(0, int((until - self.started_at).total_seconds() * 1000))

    @property
    def remaining_ms(self) -> int | None:
        """A rough estimate of the time left, from the pace so far; None until a chunk is done."""
        processed = self.processed_ms
        if self.status != TranscriptionStatus.RUNNING or processed <= 0:
            return None
        return self.elapsed_ms * max(0, self.session_audio.duration_ms - processed) // processed


class Transcription(TranscriptionProgress, db.Model):
    """One run of the pipeline over a recording, with the settings it used."""

    __tablename__ = "transcription"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_audio_id: Mapped[int] = mapped_column(ForeignKey("session_audio.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TranscriptionStatus.QUEUED, index=True)
    engine: Mapped[str] = mapped_column(String(32), default="openai")
    model: Mapped[str] = mapped_column(String(64), default="whisper-1")
    chunk_seconds: Mapped[int] = mapped_column(Integer, default=600)
    prompt_mode: Mapped[str] = mapped_column(String(16), default=PromptMode.PARALLEL)
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    # How chunks are sent (transcription.audio.CHUNK_OUTPUT), decided when planning so every lane agrees.
    chunk_format: Mapped[str] = mapped_column(String(8), default="flac", server_default="flac")
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    session_audio: Mapped[SessionAudio] = relationship(back_populates="transcriptions")
    chunks: Mapped[list[TranscriptChunk]] = relationship(
        back_populates="transcription",
        cascade="all, delete-orphan",
        order_by="TranscriptChunk.index",
    )

class TranscriptChunk(db.Model):
    """A time range of the recording, sent to the API once and saved the moment it answers."""

    __tablename__ = "transcript_chunk"
    __table_args__ = (UniqueConstraint("transcription_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transcription_id: Mapped[int] = mapped_column(ForeignKey("transcription.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=ChunkStatus.PENDING)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    segments_json: Mapped[str] = mapped_column(Text, default="[]")  # times relative to the recording
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    lease: Mapped[str] = mapped_column(String(64), default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    transcription: Mapped[Transcription] = relationship(back_populates="chunks")
