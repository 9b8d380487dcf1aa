"""Crash recovery, run by beat: transcriptions whose workers died are queued again.

A worker killed with SIGKILL leaves its task unacknowledged in Redis until the
visibility timeout (hours, on purpose) and its chunks marked running. The
heartbeats in the database tell the truth sooner: a running transcription whose
heartbeat is older than STALE_AFTER_SECONDS has nobody working on it. A queued
one is abandoned when its job is no longer waiting in the queue (Redis lost it,
or the broker was down when it was saved).
"""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy import func, select

from extensions import db
from models import Transcription, TranscriptionStatus, utcnow
from tasks import chunk_claims
from tasks.heartbeat import stale_before
from tasks.rq import redis_connection
from tasks.rq.exceptions import NoSuchJobError
from tasks.rq.job import Job, JobStatus

log = logging.getLogger(__name__)


@shared_task(name="tasks.recovery.recover_stale_transcriptions")
def recover_stale_transcriptions() -> list[int]:
    """Queue again every abandoned transcription; return their ids."""
    from tasks.service import BrokerUnavailable, TranscriptionService

    threshold = stale_before(current_app.config["STALE_AFTER_SECONDS"])
    last_sign_of_life = func.coalesce(Transcription.heartbeat_at, Transcription.created_at)
    candidates = db.session.scalars(
        select(Transcription).where(
            Transcription.status.in_(TranscriptionStatus.ACTIVE), last_sign_of_life < threshold)
    ).all()
    recovered = []
    for transcription in candidates:
        if transcription.status == TranscriptionStatus.QUEUED and _job_is_waiting(transcription.job_id):
            continue  # queued behind other work: patience, not recovery
        # Compare-and-set on the heartbeat too, so a lane that just beat keeps its work.
        moved = chunk_claims.set_transcription_status(
            transcription.id, TranscriptionStatus.QUEUED, expected=(transcription.status,),
            silent_since=threshold, heartbeat_at=utcnow())
        if not moved:
            continue  # it changed under us: someone is working on it
        try:
            TranscriptionService().enqueue(transcription)
        except BrokerUnavailable:
            log.warning("recovery: broker unreachable; transcription %s stays queued", transcription.id)
            continue
        log.info("recovery: transcription %s was abandoned and is queued again", transcription.id)
        recovered.append(transcription.id)
    return recovered


def _job_is_waiting(job_id: str) -> bool:
    """True while the pipeline job is queued, scheduled, deferred or running according to tasks.rq."""
    if not job_id:
        return False
    try:
        status = Job.fetch(job_id, connection=redis_connection()).get_status()
    except NoSuchJobError:
        return False
    return status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED)
