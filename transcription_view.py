"""What the transcription pages show, as plain frozen objects built from one Core statement.

The progress fragment is polled every 2 s by every open page. Turning the joined
rows into ORM entities (identity map, instrumented attributes, one entity per
joined row) cost more than the rest of the request; these carry only what the
templates use, with the same attribute names as the models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Dialect, Label, Row, type_coerce
from sqlalchemy.types import NullType

from models import SessionAudio, TranscriptChunk, Transcription, TranscriptionProgress, UTCDateTime
from transcription.audio import ChunkRange
from transcription.formats import TranscriptInfo
from transcription.seams import merge_chunk_segments
from transcription.segments import TimedSegment, chunk_segments


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
    # Loaded only for the transcript (TIMED_COLUMNS): the progress poll has no use for it.
    segments_json: str = "[]"


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
    started_at: datetime | None
    finished_at: datetime | None
    session_audio: RecordingView
    chunks: tuple[ChunkView, ...]
    # A fingerprint of the rows it was read from (the viewer's among them): equal states render
    # equal progress fragments, so a fragment is rendered once per state (blueprints/fragments.py).
    state: int = 0

    @property
    def chunks_with_text(self) -> str:
        """The indexes of the chunks that have their text, "0,1,4": what a progress page shows."""
        return ",".join([str(chunk.index) for chunk in self.chunks if chunk.text])


def _labeled(prefix: str, table, names: Sequence[str]) -> list[Label]:
    # A datetime column repeats on every chunk's row, and converting it is the costliest part of
    # reading a row: it is selected as it is stored and converted once, from the first row (from_rows).
    return [(type_coerce(table.c[name], NullType()) if isinstance(table.c[name].type, UTCDateTime)
             else table.c[name]).label(f"{prefix}{name}") for name in names]


TRANSCRIPTION_FIELDS = ("id", "status", "engine", "model", "chunk_count", "chunks_done", "text", "error",
                        "started_at", "finished_at")
RECORDING_FIELDS = ("id", "original_name", "duration_ms", "created_at", "audio_deleted_at")
CHUNK_FIELDS = ("index", "start_ms", "end_ms", "status", "text", "attempts", "error")

# The columns to select, joined as transcription -> session_audio, outer join transcript_chunk.
COLUMNS = [
    *_labeled("t_", Transcription.__table__, TRANSCRIPTION_FIELDS),
    *_labeled("r_", SessionAudio.__table__, RECORDING_FIELDS),
    *_labeled("c_", TranscriptChunk.__table__, CHUNK_FIELDS),
]
# The same with each chunk's timed segments, for the transcript and its downloads.
TIMED_COLUMNS = [*COLUMNS, TranscriptChunk.__table__.c.segments_json.label("c_segments_json")]


_T = slice(0, len(TRANSCRIPTION_FIELDS))
_R = slice(_T.stop, _T.stop + len(RECORDING_FIELDS))
_C = slice(_R.stop, _R.stop + len(CHUNK_FIELDS))
_TIMED_C = slice(_C.start, _C.stop + 1)


_DATETIMES = tuple(position for position, column in enumerate(COLUMNS[: _R.stop]) if isinstance(column.type, NullType))


@cache
def _datetime_converter(dialect: Dialect) -> Callable:
    """What the dialect's driver hands back for a UTCDateTime column -> an aware datetime."""
    processor = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    return processor or (lambda value: value)


def from_rows(rows: Sequence[Row], dialect: Dialect, *, timed: bool = False) -> TranscriptionView:
    """The view of one transcription from its joined rows (one per chunk, ordered by chunk index),
    whose columns start with COLUMNS (TIMED_COLUMNS if `timed`) in that order."""
    first = list(rows[0][: _R.stop])
    convert = _datetime_converter(dialect)
    for position in _DATETIMES:
        first[position] = convert(first[position])
    chunk_start, chunk_columns = _C.start, _TIMED_C if timed else _C
    return TranscriptionView(
        *first[_T],
        session_audio=RecordingView(*first[_R]),
        chunks=tuple(ChunkView(*row[chunk_columns]) for row in rows if row[chunk_start] is not None),
        state=hash(tuple(tuple(row) for row in rows)),
    )


def timed_transcript(transcription: TranscriptionView) -> tuple[list[TimedSegment], TranscriptInfo]:
    """The transcript's segments on the recording's timeline, seams de-duplicated, and what the downloads
    say about it. Needs a view loaded with its segments (TIMED_COLUMNS)."""
    chunks = [(ChunkRange(c.index, c.start_ms, c.end_ms), chunk_segments(c.start_ms, c.end_ms, c.text, c.segments_json))
              for c in transcription.chunks]
    engine_timed = any(c.segments_json not in ("", "[]") for c in transcription.chunks)
    recording = transcription.session_audio
    info = TranscriptInfo(transcription_id=transcription.id, recording_name=recording.original_name,
                          duration_ms=recording.duration_ms, engine=transcription.engine, model=transcription.model,
                          uploaded_at=recording.created_at, timing="segments" if engine_timed else "chunks")
    return merge_chunk_segments(chunks), info

