"""A lane: claims chunks of one transcription, transcribes them, saves each answer
the moment it arrives, and assembles the transcript when it finds every chunk done.

Several lanes may work on one transcription at once, in any processes on any
hosts; the database's compare-and-set claims keep them from sharing a chunk.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from celery import current_task
from flask import current_app

from extensions import db, get_storage
from models import ChunkStatus, PromptMode, TranscriptChunk, Transcription, TranscriptionStatus, utcnow
from tasks import chunk_claims
from tasks.heartbeat import Heartbeat
from tasks.progress import mirror_progress
from tasks.shutdown import shutdown_requested
from transcription.audio import CUT_NICENESS, ChunkExport, ChunkRange, InvalidAudioError
from transcription.engines import PermanentEngineError, build_engine
from transcription.formats import format_clock
from transcription.prompts import build_prompt
from transcription.seams import merge_chunk_texts
from transcription.service import ChunkFailed, RetryPolicy, transcribe_with_retries

log = logging.getLogger(__name__)


class LaneStopped(Exception):
    """The transcription stopped running (canceled or failed elsewhere) mid-chunk."""


@dataclass
class _HeldChunk:
    """A chunk this lane has claimed, with its audio being cut in the background."""

    chunk: TranscriptChunk
    export: ChunkExport


def run_lane(transcription_id: int) -> int:
    """Claim and transcribe chunks until none is claimable; return how many this lane saved.

    While one chunk is with the API the lane claims the next and cuts it (ffmpeg
    runs in the background), so cutting costs no time of its own.
    """
    config = current_app.config
    lease = uuid.uuid4().hex
    saved = 0
    in_hand: list[_HeldChunk] = []
    with Heartbeat(db.engine, transcription_id, config["HEARTBEAT_SECONDS"]) as heartbeat, \
            tempfile.TemporaryDirectory(prefix="lane-") as workdir:

        def claim_and_cut(awaited: bool) -> _HeldChunk | None:
            """Claim a chunk and start cutting it: at full priority if the lane will wait for
            the cut (nothing of its own is with the API), as batch work if not."""
            if shutdown_requested() or not chunk_claims.transcription_is_running(transcription_id):
                return None
            # A chunk of the first round is left to the lanes still starting: cut ahead by a lane
            # that already has one with the API, it would wait for that answer first.
            first_round = 0 if awaited else db.session.get(Transcription, transcription_id).concurrency
            chunk = chunk_claims.claim_next_chunk(transcription_id, lease, config["STALE_AFTER_SECONDS"], first_round)
            if chunk is None:
                return None
            heartbeat.hold(chunk.id)
            cut = ChunkRange(chunk.index, chunk.start_ms, chunk.end_ms)
            transcription = chunk.transcription
            held = _HeldChunk(chunk, ChunkExport(_cut_source(transcription), [cut],
                                                 [Path(workdir) / f"chunk-{chunk.index:04d}"],
                                                 transcription.chunk_format,
                                                 niceness=0 if awaited else CUT_NICENESS))
            in_hand.append(held)
            return held

        try:
            current = claim_and_cut(awaited=True)
            while current is not None:
                audio_path = _finish_cut(current)
                # The next cut starts only now, so it never slows down the one just awaited.
                following = claim_and_cut(awaited=False) if audio_path else None
                if audio_path:
                    saved += _send_and_save(current.chunk, audio_path)
                current.export.cancel()  # its audio file is not needed any more
                in_hand.remove(current)
                heartbeat.drop(current.chunk.id)
                # Chunks may have become claimable while this one was with the API: planned
                # meanwhile, or given back by a lane that stopped.
                current = following or (claim_and_cut(awaited=True) if audio_path else None)
                if current is not None and (shutdown_requested()
                                            or not chunk_claims.transcription_is_running(transcription_id)):
                    break  # the finally hands `current` back
        finally:
            # Whatever stopped the lane (the end, a time limit, a shutdown, an error),
            # chunks claimed but not answered go back to the pool at once.
            for held in in_hand:
                held.export.cancel()
                chunk_claims.release_chunk(held.chunk.id, lease)
    finalize_if_complete(transcription_id)
    return saved


def _finish_cut(held: _HeldChunk) -> Path | None:
    """Wait for the chunk's audio; None if it cannot be cut (the transcription then fails)."""
    try:
        [path] = held.export.results()
        return path
    except InvalidAudioError as exc:
        _fail_transcription_at(held.chunk, str(exc))
        return None


def _send_and_save(chunk: TranscriptChunk, audio_path: Path) -> bool:
    """Send the chunk's audio under the retry policy and save the answer; False if the chunk failed."""
    config = current_app.config
    transcription = chunk.transcription
    policy = RetryPolicy(config["TRANSCRIPTION_MAX_ATTEMPTS"], config["TRANSCRIPTION_RETRY_DELAY_SECONDS"])

    def before_attempt(attempt: int) -> None:
        if not chunk_claims.transcription_is_running(transcription.id):
            raise LaneStopped()
        chunk_claims.record_attempt(chunk.id, attempt)

    try:
        engine = build_engine(transcription.engine, transcription.model, config)
        answer = transcribe_with_retries(engine, str(audio_path), _prompt_for(chunk), policy,
                                         attempts_made=chunk.attempts, before_attempt=before_attempt)
    except (ChunkFailed, PermanentEngineError) as exc:
        _fail_transcription_at(chunk, str(exc))
        return False
    chunk_claims.save_answer(chunk, answer)
    mirror_progress(transcription.id)
    log.info("transcription %s: chunk %d of %d saved", transcription.id, chunk.index + 1, transcription.chunk_count)
    return True


def _cut_source(transcription: Transcription) -> Path:
    """Where chunks are cut from: the working copy if the source needed one, else the source itself."""
    storage = get_storage()
    session_audio = transcription.session_audio
    if storage.exists(session_audio.work_key):
        return storage.local_path(session_audio.work_key)
    return storage.local_path(session_audio.audio_key)


def _prompt_for(chunk: TranscriptChunk) -> str:
    transcription = chunk.transcription
    session_audio = transcription.session_audio
    previous_text = session_audio.previous_transcript or ""
    if transcription.prompt_mode == PromptMode.SEQUENTIAL and chunk.index > 0:
        previous = db.session.scalar(
            db.select(TranscriptChunk.text).where(
                TranscriptChunk.transcription_id == transcription.id,
                TranscriptChunk.index == chunk.index - 1,
            )
        )
        previous_text = previous or previous_text
    return build_prompt(previous_text, session_audio.session_notes or "")


def _fail_transcription_at(chunk: TranscriptChunk, reason: str) -> None:
    transcription = chunk.transcription
    message = (f"Chunk {chunk.index + 1} of {transcription.chunk_count} "
               f"({format_clock(chunk.start_ms)}–{format_clock(chunk.end_ms)}) failed: {reason}")
    chunk_claims.fail_chunk(chunk.id, reason)
    fail_transcription(transcription.id, message)


def fail_transcription(transcription_id: int, message: str) -> None:
    if chunk_claims.set_transcription_status(transcription_id, TranscriptionStatus.FAILED,
                                             expected=TranscriptionStatus.ACTIVE, error=message,
                                             finished_at=utcnow()):
        log.warning("transcription %s failed: %s", transcription_id, message)
        mirror_progress(transcription_id)


def fail_for_time_limit(transcription_id: int) -> None:
    # A limit in the task message (the sender's) wins over the worker's own setting.
    limits = getattr(current_task.request, "timelimit", None) if current_task else None
    limit = (limits[1] if limits and limits[1] else None) or current_app.config["CELERY_TASK_SOFT_TIME_LIMIT"]
    fail_transcription(transcription_id, (
        f"Stopped at the time limit of {limit} seconds. The chunks finished so far are kept; "
        "press Retry to continue from where it stopped."))


def finalize_if_complete(transcription_id: int) -> bool:
    """Assemble the transcript if every chunk is done. True if the transcription has ended."""
    done = chunk_claims.chunk_status_counts(transcription_id).get(ChunkStatus.DONE, 0)
    planned = chunk_claims.planned_chunk_count(transcription_id)
    if planned == 0 or done < planned:
        return not chunk_claims.transcription_is_running(transcription_id)
    chunks = db.session.scalars(
        db.select(TranscriptChunk).where(TranscriptChunk.transcription_id == transcription_id)
        .order_by(TranscriptChunk.index)
    ).all()
    text = merge_chunk_texts([(ChunkRange(c.index, c.start_ms, c.end_ms), c.text or "") for c in chunks])
    moved = chunk_claims.set_transcription_status(
        transcription_id, TranscriptionStatus.FINISHED, expected=(TranscriptionStatus.RUNNING,),
        text=text, finished_at=utcnow(),
    )
    if moved:
        transcription = db.session.get(Transcription, transcription_id)
        get_storage().delete(transcription.session_audio.work_key)
        log.info("transcription %s finished", transcription_id)
        mirror_progress(transcription_id)
    return True
