"""The transcription pipeline on Celery.

`process_session_audio_task` plans a recording into chunks, starts helper lanes
(`transcribe_chunks_task`) so that up to `concurrency` chunks are in flight, and
works as a lane itself until every chunk is done (see tasks/lanes.py). Running
it again resumes: chunks whose text is saved are never sent again.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from extensions import db
from models import PromptMode, SessionAudio, Transcription, TranscriptionStatus, utcnow
from tasks import chunk_claims
from tasks.celery_app import TRANSCRIPTION_QUEUE
from tasks.heartbeat import Heartbeat
from tasks.lanes import fail_for_time_limit, fail_transcription, finalize_if_complete, run_lane
from tasks.planning import RestOfPlan, ensure_working_copy, is_fully_planned, plan_transcription
from tasks.rq import Queue, redis_connection
from tasks.shutdown import shutdown_requested
from transcription.audio import InvalidAudioError
from transcription.engines import choose_engine

log = logging.getLogger(__name__)


class WorkerShuttingDown(Exception):
    """The worker got SIGTERM: the lanes saved what they had in hand and took nothing new."""

PLANNING_FAILED = "Planning the recording's chunks failed (the worker's log says why); press Retry to try again."
AUDIO_DELETED = "The recording's audio was deleted under the retention policy; it cannot be transcribed again."


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
        return _help_until_planned(transcription_id)
    except SoftTimeLimitExceeded:
        fail_for_time_limit(transcription_id)
        return 0


def _help_until_planned(transcription_id: int) -> int:
    """Be a lane until no chunk is left to take and none is left to plan; return the chunks saved.

    Lanes start while the last chunks are still being planned, so one may find nothing
    to take yet. It waits for more, but not for a planner that has stopped: after
    STALE_AFTER_SECONDS without saving a chunk it leaves (and stops beating), so recovery
    can run the transcription again.
    """
    config = current_app.config
    saved = 0
    last_saved_at = time.monotonic()
    while True:
        planning = chunk_claims.planning_unfinished(transcription_id)
        saved_now = run_lane(transcription_id)
        saved += saved_now
        if saved_now:
            last_saved_at = time.monotonic()
        if not planning or time.monotonic() - last_saved_at > float(config["STALE_AFTER_SECONDS"]):
            return saved
        if not saved_now:
            time.sleep(float(config["PIPELINE_POLL_SECONDS"]))


def enqueue_transcription(transcription: Transcription):
    """Enqueue the pipeline for `transcription` on the transcription queue (through tasks.rq); returns the Job.

    Raises kombu's OperationalError when the broker cannot be reached, redis'
    RedisError when the job store cannot.
    """
    job = _transcription_queue().enqueue(
        process_session_audio_task, transcription.session_audio_id, transcription_id=transcription.id,
        job_timeout=-1,  # the app's Celery time limits (hours), not RQ's 180-second default
        description=f"Transcribe recording {transcription.session_audio_id} (transcription {transcription.id})",
        meta={"transcription_id": transcription.id},
    )
    transcription.job_id = job.id
    db.session.commit()
    return job


def _transcription_queue() -> Queue:
    return Queue(TRANSCRIPTION_QUEUE, connection=redis_connection())


def new_transcription(session_audio: SessionAudio, config) -> Transcription:
    """A queued transcription with the settings in force now, recorded so every worker obeys them.

    Raises transcription.engines.EngineUnavailable when the configured engine cannot be used.
    """
    mode = config["TRANSCRIPTION_PROMPT_MODE"]
    if mode not in PromptMode.ALL:
        raise ValueError(f"TRANSCRIPTION_PROMPT_MODE must be one of {', '.join(PromptMode.ALL)}, got {mode!r}")
    engine, model = choose_engine(config.get("TRANSCRIPTION_ENGINE", "auto"), config.get("OPENAI_API_KEY", ""),
                                  config["TRANSCRIPTION_MODEL"])
    transcription = Transcription(
        session_audio=session_audio,
        status=TranscriptionStatus.QUEUED,
        engine=engine,
        model=model,
        chunk_seconds=int(config["CHUNK_SECONDS"]),
        prompt_mode=mode,
        concurrency=1 if mode == PromptMode.SEQUENTIAL else max(1, int(config["TRANSCRIPTION_CONCURRENCY"])),
    )
    db.session.add(transcription)
    return transcription


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


def run_pipeline(transcription_id: int, helper_lanes: bool = True) -> dict:
    transcription = db.session.get(Transcription, transcription_id)
    if transcription is None:
        return _deleted(transcription_id)
    if transcription.status in (TranscriptionStatus.FINISHED, TranscriptionStatus.CANCELED):
        return summary(transcription)
    if transcription.session_audio.audio_deleted_at is not None:
        fail_transcription(transcription_id, AUDIO_DELETED)
        return summary(transcription)
    chunk_claims.reopen_unfinished_chunks(transcription_id, failed_only=True)
    transcription.status = TranscriptionStatus.RUNNING
    transcription.error = ""
    transcription.finished_at = None
    transcription.started_at = transcription.started_at or utcnow()
    db.session.commit()
    config = current_app.config
    try:
        with Heartbeat(db.engine, transcription_id, config["HEARTBEAT_SECONDS"]):
            if is_fully_planned(transcription):
                rest_of_plan = None
                ensure_working_copy(transcription.session_audio, transcription.chunks)
            else:  # planning makes the working copy, if the source needs one
                rest_of_plan = plan_transcription(transcription)
            try:
                if helper_lanes:
                    _start_helper_lanes(transcription)
                _work_until_done(transcription_id, float(config["PIPELINE_POLL_SECONDS"]), rest_of_plan)
            finally:
                if rest_of_plan is not None:
                    rest_of_plan.join()
    except SoftTimeLimitExceeded:
        fail_for_time_limit(transcription_id)
    except InvalidAudioError as exc:
        fail_transcription(transcription_id, str(exc))
    except WorkerShuttingDown:
        _hand_over(transcription_id)
    db.session.expire_all()
    transcription = db.session.get(Transcription, transcription_id)
    # The recording may have been deleted while we worked on it.
    return summary(transcription) if transcription is not None else _deleted(transcription_id)


def _work_until_done(transcription_id: int, poll_seconds: float, rest_of_plan: RestOfPlan | None) -> None:
    """Be a lane; when nothing is left to take, wait for the rest of the plan and the other
    lanes, and take over the chunks of any lane that dies."""
    while True:
        saved = run_lane(transcription_id)
        if finalize_if_complete(transcription_id):
            return
        if rest_of_plan is not None and rest_of_plan.error is not None:
            # Failed, not left running: helper lanes waiting for the rest of the plan stop.
            log.error("transcription %s: planning failed", transcription_id, exc_info=rest_of_plan.error)
            fail_transcription(transcription_id, PLANNING_FAILED)
            return
        if shutdown_requested():
            raise WorkerShuttingDown()
        if not saved:
            # Chunks are in other lanes' hands, or still being planned; their heartbeats tell
            # whether those lanes live.
            time.sleep(poll_seconds)


def _hand_over(transcription_id: int) -> None:
    """The worker is shutting down: queue the transcription again for another worker."""
    if not chunk_claims.set_transcription_status(transcription_id, TranscriptionStatus.QUEUED,
                                                 expected=(TranscriptionStatus.RUNNING,)):
        return
    try:
        enqueue_transcription(db.session.get(Transcription, transcription_id))
        log.info("transcription %s handed back to the queue: this worker is shutting down", transcription_id)
    except (OperationalError, RedisError):
        log.warning("transcription %s: broker unreachable at shutdown; recovery will queue it", transcription_id)


def _deleted(transcription_id: int) -> dict:
    return {"transcription_id": transcription_id, "status": "deleted", "chunk_count": 0, "chunks_done": 0,
            "error": "The recording was deleted."}


def summary(transcription: Transcription) -> dict:
    """The task's return value: ids and counts, never the text.

    Celery logs every return value ("Task ... succeeded in 3s: {...}") and keeps it
    in the result backend; transcripts belong in the database only. Callers read
    the text from there (tasks.service's handles do it for them).
    """
    return {
        "transcription_id": transcription.id,
        "status": transcription.status,
        "chunk_count": transcription.chunk_count,
        "chunks_done": transcription.chunks_done,
        "error": transcription.error,
    }


def _start_helper_lanes(transcription: Transcription) -> None:
    pending = transcription.chunk_count - transcription.chunks_done
    try:
        for _ in range(min(transcription.concurrency, pending) - 1):
            _transcription_queue().enqueue(
                transcribe_chunks_task, transcription.id, job_timeout=-1,
                description=f"Helper lane for transcription {transcription.id}",
            )
    except (OperationalError, RedisError):
        log.warning("transcription %s: broker unreachable, continuing with one lane", transcription.id)
