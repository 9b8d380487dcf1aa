"""The transcription pipeline on Celery.

`process_session_audio_task` plans a recording into chunks and then works as one
"lane": it claims chunks from the database, cuts each from the working copy,
sends it to the engine and saves the answer at once. With concurrency N it also
enqueues N-1 helper lanes (`transcribe_chunks_task`) that do the same from any
worker process or host. Whoever finds every chunk done assembles the transcript.
Running the task again resumes: saved chunks are never sent again.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from kombu.exceptions import OperationalError

from extensions import db, get_storage
from models import (
    ChunkStatus,
    PromptMode,
    SessionAudio,
    TranscriptChunk,
    Transcription,
    TranscriptionStatus,
    utcnow,
)
from tasks import chunk_claims
from tasks.heartbeat import Heartbeat
from transcription.audio import ChunkRange, InvalidAudioError, export_chunk, plan_chunks, prepare
from transcription.engines import PermanentEngineError, build_engine
from transcription.formats import format_clock
from transcription.prompts import build_prompt
from transcription.seams import merge_chunk_texts
from transcription.service import ChunkFailed, RetryPolicy, transcribe_with_retries

log = logging.getLogger(__name__)


class LaneStopped(Exception):
    """The transcription stopped running (canceled or failed elsewhere) mid-chunk."""


@shared_task(name="tasks.pipeline.process_session_audio_task", bind=True)
def process_session_audio_task(self, session_audio_id: int, previous_transcript: str = "",
                               session_notes: str = "", transcription_id: int | None = None) -> dict:
    """Transcribe a recording (its latest transcription, or the one given), resuming where it stopped."""
    transcription = _resolve_transcription(session_audio_id, transcription_id, previous_transcript, session_notes)
    # Run in the caller (apply()), there is no worker pool to share the chunks with.
    return run_pipeline(transcription.id, helper_lanes=not self.request.is_eager)


@shared_task(name="tasks.pipeline.transcribe_chunks_task")
def transcribe_chunks_task(transcription_id: int) -> int:
    """A helper lane: transcribe chunks of one transcription until none is left to take."""
    try:
        return run_lane(transcription_id)
    except SoftTimeLimitExceeded:
        _fail_for_time_limit(transcription_id)
        return 0


def _resolve_transcription(session_audio_id: int, transcription_id: int | None,
                           previous_transcript: str, session_notes: str) -> Transcription:
    session_audio = db.session.get(SessionAudio, session_audio_id)
    if session_audio is None:
        raise ValueError(f"No recording with id {session_audio_id}")
    if previous_transcript:
        session_audio.previous_transcript = previous_transcript
    if session_notes:
        session_audio.session_notes = session_notes
    if transcription_id is not None:
        transcription = db.session.get(Transcription, transcription_id)
        if transcription is None or transcription.session_audio_id != session_audio_id:
            raise ValueError(f"Transcription {transcription_id} does not belong to recording {session_audio_id}")
    else:
        transcription = session_audio.latest_transcription or new_transcription(session_audio, current_app.config)
    db.session.commit()
    return transcription


def new_transcription(session_audio: SessionAudio, config) -> Transcription:
    """A queued transcription with the settings in force now, recorded so every worker obeys them."""
    mode = config["TRANSCRIPTION_PROMPT_MODE"]
    if mode not in PromptMode.ALL:
        raise ValueError(f"TRANSCRIPTION_PROMPT_MODE must be one of {', '.join(PromptMode.ALL)}, got {mode!r}")
    transcription = Transcription(
        session_audio=session_audio,
        status=TranscriptionStatus.QUEUED,
        engine="openai",
        model=config["TRANSCRIPTION_MODEL"],
        chunk_seconds=int(config["CHUNK_SECONDS"]),
        prompt_mode=mode,
        concurrency=1 if mode == PromptMode.SEQUENTIAL else max(1, int(config["TRANSCRIPTION_CONCURRENCY"])),
    )
    db.session.add(transcription)
    return transcription


def run_pipeline(transcription_id: int, helper_lanes: bool = True) -> dict:
    transcription = db.session.get(Transcription, transcription_id)
    if transcription.status in (TranscriptionStatus.FINISHED, TranscriptionStatus.CANCELED):
        return summary(transcription)
    transcription.status = TranscriptionStatus.RUNNING
    transcription.error = ""
    transcription.finished_at = None
    transcription.started_at = transcription.started_at or utcnow()
    db.session.commit()
    config = current_app.config
    try:
        with Heartbeat(db.engine, transcription_id, None, config["HEARTBEAT_SECONDS"]):
            if not transcription.chunks:
                _plan(transcription)
            _prepare_working_copy(transcription.session_audio, transcription.chunks)
            if helper_lanes:
                _start_helper_lanes(transcription)
            _work_until_done(transcription_id, float(config["PIPELINE_POLL_SECONDS"]))
    except SoftTimeLimitExceeded:
        _fail_for_time_limit(transcription_id)
    except InvalidAudioError as exc:
        chunk_claims.set_transcription_status(transcription_id, TranscriptionStatus.FAILED,
                                              expected=TranscriptionStatus.ACTIVE,
                                              error=str(exc), finished_at=utcnow())
    db.session.expire_all()
    return summary(db.session.get(Transcription, transcription_id))


def _work_until_done(transcription_id: int, poll_seconds: float) -> None:
    """Be a lane; when nothing is left to take, wait for the other lanes and take over any that die."""
    while True:
        run_lane(transcription_id)
        if not chunk_claims.transcription_is_running(transcription_id):
            return
        if _finalize_if_complete(transcription_id):
            return
        # Chunks are in other lanes' hands; their heartbeats tell whether they live.
        time.sleep(poll_seconds)


def summary(transcription: Transcription) -> dict:
    return {
        "transcription_id": transcription.id,
        "status": transcription.status,
        "chunk_count": transcription.chunk_count,
        "chunks_done": transcription.chunks_done,
        "error": transcription.error,
        "text": transcription.text if transcription.status == TranscriptionStatus.FINISHED else "",
    }


def _plan(transcription: Transcription) -> None:
    """Decide the chunk ranges (cut at silences) and record one row per chunk."""
    session_audio = transcription.session_audio
    storage = get_storage()
    with tempfile.TemporaryDirectory(prefix="plan-") as workdir:
        prepared = prepare(storage.local_path(session_audio.audio_key), Path(workdir))
        ranges = plan_chunks(prepared.duration_ms, prepared.silences, transcription.chunk_seconds * 1000)
        storage.put_file(session_audio.work_key, prepared.wav_path, move=True)
    for chunk_range in ranges:
        transcription.chunks.append(TranscriptChunk(
            index=chunk_range.index, start_ms=chunk_range.start_ms, end_ms=chunk_range.end_ms,
            status=ChunkStatus.PENDING,
        ))
    transcription.chunk_count = len(ranges)
    db.session.commit()
    log.info("transcription %s planned as %d chunks", transcription.id, len(ranges))


def _prepare_working_copy(session_audio: SessionAudio, chunks: list[TranscriptChunk]) -> None:
    """Recreate the working copy if it is gone (e.g. removed after a failure) and chunks remain."""
    storage = get_storage()
    if storage.exists(session_audio.work_key) or all(c.status == ChunkStatus.DONE for c in chunks):
        return
    with tempfile.TemporaryDirectory(prefix="prepare-") as workdir:
        prepared = prepare(storage.local_path(session_audio.audio_key), Path(workdir))
        storage.put_file(session_audio.work_key, prepared.wav_path, move=True)


def _start_helper_lanes(transcription: Transcription) -> None:
    pending = sum(1 for c in transcription.chunks if c.status != ChunkStatus.DONE)
    try:
        for _ in range(min(transcription.concurrency, pending) - 1):
            transcribe_chunks_task.apply_async(args=[transcription.id], retry=False)
    except OperationalError:
        log.warning("transcription %s: broker unreachable, continuing with one lane", transcription.id)


def run_lane(transcription_id: int) -> int:
    """Claim and transcribe chunks until none is claimable; return how many this lane did."""
    config = current_app.config
    lease = uuid.uuid4().hex
    done = 0
    while chunk_claims.transcription_is_running(transcription_id):
        chunk = chunk_claims.claim_next_chunk(transcription_id, lease, config["STALE_AFTER_SECONDS"])
        if chunk is None:
            break
        try:
            _transcribe_chunk(chunk, lease)
        except (SoftTimeLimitExceeded, LaneStopped):
            chunk_claims.release_chunk(chunk.id, lease)
            raise
        done += 1
    _finalize_if_complete(transcription_id)
    return done


def _transcribe_chunk(chunk: TranscriptChunk, lease: str) -> None:
    config = current_app.config
    transcription = chunk.transcription
    session_audio = transcription.session_audio
    policy = RetryPolicy(config["TRANSCRIPTION_MAX_ATTEMPTS"], config["TRANSCRIPTION_RETRY_DELAY_SECONDS"])
    prompt = _prompt_for(chunk)

    def before_attempt(attempt: int) -> None:
        if not chunk_claims.transcription_is_running(transcription.id):
            raise LaneStopped()
        chunk_claims.record_attempt(chunk.id, attempt)

    with Heartbeat(db.engine, transcription.id, chunk.id, config["HEARTBEAT_SECONDS"]), \
            tempfile.TemporaryDirectory(prefix="chunk-") as workdir:
        audio_path = Path(workdir) / f"chunk-{chunk.index:04d}.flac"
        chunk_range = ChunkRange(chunk.index, chunk.start_ms, chunk.end_ms)
        export_chunk(get_storage().local_path(session_audio.work_key), chunk_range, audio_path)
        try:
            engine = build_engine(transcription.engine, transcription.model, config)
            answer = transcribe_with_retries(engine, str(audio_path), prompt, policy,
                                             attempts_made=chunk.attempts, before_attempt=before_attempt)
        except (ChunkFailed, PermanentEngineError) as exc:
            _fail_transcription_at(chunk, str(exc))
            return
    chunk_claims.save_answer(chunk, answer)
    log.info("transcription %s: chunk %d of %d saved", transcription.id, chunk.index + 1,
             transcription.chunk_count)


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
    chunk_claims.set_transcription_status(transcription.id, TranscriptionStatus.FAILED,
                                          expected=TranscriptionStatus.ACTIVE, error=message, finished_at=utcnow())
    log.warning("transcription %s failed: %s", transcription.id, message)


def _fail_for_time_limit(transcription_id: int) -> None:
    limit = current_app.config["CELERY_TASK_SOFT_TIME_LIMIT"]
    message = (f"Stopped at the time limit of {limit} seconds. The chunks finished so far are kept; "
               "press Retry to continue from where it stopped.")
    chunk_claims.set_transcription_status(transcription_id, TranscriptionStatus.FAILED,
                                          expected=TranscriptionStatus.ACTIVE, error=message, finished_at=utcnow())


def _finalize_if_complete(transcription_id: int) -> bool:
    """Assemble the transcript if every chunk is done. True if the transcription has ended."""
    counts = chunk_claims.chunk_status_counts(transcription_id)
    total = sum(counts.values())
    if total == 0 or counts.get(ChunkStatus.DONE, 0) < total:
        return not chunk_claims.transcription_is_running(transcription_id)
    chunks = db.session.scalars(
        db.select(TranscriptChunk).where(TranscriptChunk.transcription_id == transcription_id)
        .order_by(TranscriptChunk.index)
    ).all()
    text = assemble_text(chunks)
    moved = chunk_claims.set_transcription_status(
        transcription_id, TranscriptionStatus.FINISHED, expected=(TranscriptionStatus.RUNNING,),
        text=text, finished_at=utcnow(),
    )
    if moved:
        transcription = db.session.get(Transcription, transcription_id)
        get_storage().delete(transcription.session_audio.work_key)
        log.info("transcription %s finished", transcription_id)
    return True


def assemble_text(chunks: list[TranscriptChunk]) -> str:
    """The chunks' texts in order, with words repeated across overlapping seams removed."""
    return merge_chunk_texts([(ChunkRange(c.index, c.start_ms, c.end_ms), c.text or "") for c in chunks])
