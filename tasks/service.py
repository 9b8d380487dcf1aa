"""The service API existing callers use to start transcriptions."""

from __future__ import annotations

import logging

from flask import Flask, current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from extensions import db
from models import SessionAudio, Transcription, TranscriptionStatus, utcnow
from tasks import chunk_claims
from tasks.celery_app import ensure_broker_reachable
from tasks.pipeline import enqueue_transcription, new_transcription, process_session_audio_task

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The job queue could not be reached; nothing was enqueued."""


class TranscriptionHandle:
    """A transcription job: .id, .state, .ready(), .successful(), .get(timeout=...) -> its result.

    The pipeline task's own result holds ids and counts but no text (Celery logs
    return values); get() adds the transcript's "text" from the database.
    """

    def __init__(self, job, app: Flask):
        self._job = job
        self._app = app
        self.id = job.id

    @property
    def state(self) -> str:
        return self._job.state

    def ready(self) -> bool:
        return self._job.ready()

    def successful(self) -> bool:
        return self._job.successful()

    def get(self, timeout: float | None = None) -> dict:
        result = dict(self._job.get(timeout=timeout))
        with self._app.app_context():
            transcription = db.session.get(Transcription, result["transcription_id"])
            finished = transcription is not None and transcription.status == TranscriptionStatus.FINISHED
            result["text"] = transcription.text if finished else ""
        return result


class TranscriptionService:
    def enqueue(self, transcription: Transcription):
        """Queue the pipeline for `transcription`; raises BrokerUnavailable if the broker is down."""
        try:
            ensure_broker_reachable(current_app.extensions["celery"])
            return enqueue_transcription(transcription)
        except (OperationalError, RedisError) as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def retry(self, transcription: Transcription):
        """Resume a failed or canceled transcription: finished chunks are kept, the rest sent again."""
        if transcription.status not in (TranscriptionStatus.FAILED, TranscriptionStatus.CANCELED):
            raise ValueError(f"Only a failed or canceled transcription can be retried, not a {transcription.status}.")
        chunk_claims.reopen_unfinished_chunks(transcription.id)
        transcription.status = TranscriptionStatus.QUEUED
        transcription.error = ""
        transcription.finished_at = None
        transcription.job_id = ""
        db.session.commit()
        return self.enqueue(transcription)

    def cancel(self, transcription: Transcription) -> bool:
        """Stop a queued or running transcription; chunks already answered stay saved. True if it stopped."""
        return chunk_claims.set_transcription_status(
            transcription.id, TranscriptionStatus.CANCELED, expected=TranscriptionStatus.ACTIVE,
            error="Canceled.", finished_at=utcnow())

    def process_session_audio_async(self, session_audio: SessionAudio, previous_transcript: str = "",
                                    session_notes: str = "", use_celery: bool = True):
        """Transcribe `session_audio` on a worker; returns a handle with .id, .ready(), .get(timeout=...).

        With use_celery=False, or when the broker cannot be reached, the work runs
        here and now and the returned handle is already complete.
        """
        if previous_transcript:
            session_audio.previous_transcript = previous_transcript
        if session_notes:
            session_audio.session_notes = session_notes
        transcription = session_audio.latest_transcription
        if transcription is None or transcription.status in TranscriptionStatus.ENDED:
            transcription = new_transcription(session_audio, current_app.config)
        db.session.commit()
        app = current_app._get_current_object()
        if use_celery:
            try:
                return TranscriptionHandle(self.enqueue(transcription), app)
            except BrokerUnavailable as exc:
                log.warning("Broker unreachable (%s); transcribing recording %s synchronously in this process",
                            exc, session_audio.id)
        else:
            log.info("use_celery=False: transcribing recording %s synchronously in this process", session_audio.id)
        result = process_session_audio_task.apply(
            args=[session_audio.id], kwargs={"transcription_id": transcription.id},
        )
        return TranscriptionHandle(result, app)
