"""What the transcription pages show, as plain frozen objects built from one Core statement.

The progress fragment is polled every 2 s by every open page. Turning the joined
rows into ORM entities (identity map, instrumented attributes, one entity per
joined row) cost more than the rest of the request; these carry only what the
templates use, with the same attribute names as the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Label, Row

from models import SessionAudio, TranscriptChunk, Transcription, TranscriptionProgress


@dataclass(frozen=True, slots=True)
class RecordingView:
    id: int
    original_name: str
    duration_ms: int
    created_at: datetime
    audio_deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChunkView:
    index: int
    start_ms: int
    end_ms: int
    status: str
    text: str | None
    attempts: int
    error: str


@dataclass(frozen=True)
class TranscriptionView(TranscriptionProgress):
    id: int
    status: str
    engine: str
    model: str
    chunk_count: int
    chunks_done: int
    text: str
    error: str
    session_audio: RecordingView
    chunks: tuple[ChunkView, ...]


def _labeled(prefix: str, table, names: Sequence[str]) -> list[Label]:
    return [table.c[name].label(f"{prefix}{name}") for name in names]


TRANSCRIPTION_FIELDS = ("id", "status", "engine", "model", "chunk_count", "chunks_done", "text", "error")
RECORDING_FIELDS = ("id", "original_name", "duration_ms", "created_at", "audio_deleted_at")
CHUNK_FIELDS = ("index", "start_ms", "end_ms", "status", "text", "attempts", "error")

# The columns to select, joined as transcription -> session_audio, outer join transcript_chunk.
COLUMNS = [
    *_labeled("t_", Transcription.__table__, TRANSCRIPTION_FIELDS),
    *_labeled("r_", SessionAudio.__table__, RECORDING_FIELDS),
    *_labeled("c_", TranscriptChunk.__table__, CHUNK_FIELDS),
]


_T = slice(0, len(TRANSCRIPTION_FIELDS))
_R = slice(_T.stop, _T.stop + len(RECORDING_FIELDS))
_C = slice(_R.stop, _R.stop + len(CHUNK_FIELDS))


def from_rows(rows: Sequence[Row]) -> TranscriptionView:
    """The view of one transcription from its joined rows (one per chunk, ordered by chunk index),
    whose columns start with COLUMNS in that order."""
    first = rows[0]
    chunk_start = _C.start
    return TranscriptionView(
        *first[_T],
        session_audio=RecordingView(*first[_R]),
        chunks=tuple(ChunkView(*row[_C]) for row in rows if row[chunk_start] is not None),
    )
