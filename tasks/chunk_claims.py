"""Chunk ownership in the database. Every change is a compare-and-set UPDATE, so
lanes on any number of processes and hosts never take the same chunk twice and
a chunk whose text is saved is never sent to the API again."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update

from extensions import db
from models import ChunkStatus, TranscriptChunk, Transcription, TranscriptionStatus, utcnow
from tasks.heartbeat import stale_before
from transcription.engines import ChunkTranscript


def _claimable(stale_after_seconds: float):
    """Pending chunks, and running ones whose lane stopped beating (it died)."""
    return or_(
        TranscriptChunk.status == ChunkStatus.PENDING,
        and_(
            TranscriptChunk.status == ChunkStatus.RUNNING,
            or_(TranscriptChunk.heartbeat_at.is_(None),
                TranscriptChunk.heartbeat_at < stale_before(stale_after_seconds)),
        ),
    )


def claim_next_chunk(transcription_id: int, lease: str, stale_after_seconds: float, min_index: int = 0
                     ) -> TranscriptChunk | None:
    """Take the lowest-numbered claimable chunk from `min_index` on for this lane, or None if there is none."""
    candidates = db.session.scalars(
        select(TranscriptChunk.id)
        .where(TranscriptChunk.transcription_id == transcription_id, TranscriptChunk.index >= min_index,
               _claimable(stale_after_seconds))
        .order_by(TranscriptChunk.index)
    ).all()
    db.session.rollback()  # end the read transaction before writing (SQLite locks)
    for chunk_id in candidates:
        result = db.session.execute(
            update(TranscriptChunk)
            .where(TranscriptChunk.id == chunk_id, _claimable(stale_after_seconds))
            .values(status=ChunkStatus.RUNNING, lease=lease, heartbeat_at=utcnow(), error="")
        )
        db.session.commit()
        if result.rowcount == 1:
            return db.session.get(TranscriptChunk, chunk_id, populate_existing=True)
    return None


def record_attempt(chunk_id: int, attempt: int) -> None:
    db.session.execute(update(TranscriptChunk).where(TranscriptChunk.id == chunk_id).values(attempts=attempt))
    db.session.commit()


def save_answer(chunk: TranscriptChunk, transcript: ChunkTranscript) -> bool:
    """Save the API's answer at once. False if another lane saved this chunk first."""
    segments = [[chunk.start_ms + s.start_ms, chunk.start_ms + s.end_ms, s.text] for s in transcript.segments]
    result = db.session.execute(
        update(TranscriptChunk)
        .where(TranscriptChunk.id == chunk.id, TranscriptChunk.status != ChunkStatus.DONE)
        .values(status=ChunkStatus.DONE, text=transcript.text, segments_json=json.dumps(segments),
                finished_at=utcnow(), lease="", error="")
    )
    _recount_done(chunk.transcription_id)
    db.session.commit()
    return result.rowcount == 1


def release_chunk(chunk_id: int, lease: str) -> None:
    """Give an unfinished chunk back (time limit, shutdown) so the next run takes it."""
    db.session.execute(
        update(TranscriptChunk)
        .where(TranscriptChunk.id == chunk_id, TranscriptChunk.lease == lease,
               TranscriptChunk.status == ChunkStatus.RUNNING)
        .values(status=ChunkStatus.PENDING, lease="", heartbeat_at=None)
    )
    db.session.commit()


def reopen_unfinished_chunks(transcription_id: int, *, failed_only: bool = False) -> None:
    """Make failed chunks (and with failed_only=False every unfinished one) pending again, attempts reset."""
    statuses = [ChunkStatus.FAILED] if failed_only else [ChunkStatus.FAILED, ChunkStatus.RUNNING, ChunkStatus.PENDING]
    db.session.execute(
        update(TranscriptChunk)
        .where(TranscriptChunk.transcription_id == transcription_id, TranscriptChunk.status.in_(statuses))
        .values(status=ChunkStatus.PENDING, attempts=0, error="", lease="", heartbeat_at=None)
    )
    db.session.commit()


def fail_chunk(chunk_id: int, error: str) -> None:
    db.session.execute(
        update(TranscriptChunk)
        .where(TranscriptChunk.id == chunk_id, TranscriptChunk.status != ChunkStatus.DONE)
        .values(status=ChunkStatus.FAILED, error=error, lease="")
    )
    db.session.commit()


def _recount_done(transcription_id: int) -> None:
    # Counted, not incremented: concurrent lanes cannot lose an update this way.
    done = (
        select(func.count())
        .where(TranscriptChunk.transcription_id == transcription_id, TranscriptChunk.status == ChunkStatus.DONE)
        .scalar_subquery()
    )
    db.session.execute(update(Transcription).where(Transcription.id == transcription_id).values(chunks_done=done))


def chunk_status_counts(transcription_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(TranscriptChunk.status, func.count())
        .where(TranscriptChunk.transcription_id == transcription_id)
        .group_by(TranscriptChunk.status)
    ).all()
    return {status: count for status, count in rows}


def set_transcription_status(transcription_id: int, new_status: str, *, expected: tuple[str, ...],
                             silent_since: datetime | None = None, **values) -> bool:
    """Move a transcription to `new_status` only from one of `expected` (and, with `silent_since`,
    only if nothing has vouched for it since then); True if it moved."""
    conditions = [Transcription.id == transcription_id, Transcription.status.in_(expected)]
    if silent_since is not None:
        conditions.append(func.coalesce(Transcription.heartbeat_at, Transcription.created_at) < silent_since)
    result = db.session.execute(update(Transcription).where(*conditions).values(status=new_status, **values))
    db.session.commit()
    return result.rowcount == 1


def transcription_is_running(transcription_id: int) -> bool:
    status = db.session.scalar(select(Transcription.status).where(Transcription.id == transcription_id))
    db.session.rollback()
    return status == TranscriptionStatus.RUNNING


def planned_chunk_count(transcription_id: int) -> int:
    """How many chunks the plan has (0 before planning), whether or not all their rows exist yet."""
    count = db.session.scalar(select(Transcription.chunk_count).where(Transcription.id == transcription_id))
    db.session.rollback()
    return count or 0


def planning_unfinished(transcription_id: int) -> bool:
    """The transcription runs and some of its planned chunks have no row yet."""
    rows = select(func.count()).where(TranscriptChunk.transcription_id == transcription_id).scalar_subquery()
    unfinished = db.session.scalar(
        select(Transcription.id).where(Transcription.id == transcription_id,
                                       Transcription.status == TranscriptionStatus.RUNNING,
                                       rows < Transcription.chunk_count)
    )
    db.session.rollback()
    return unfinished is not None
