"""Crash recovery, run by beat: transcriptions whose workers died are queued again.

A worker killed with SIGKILL leaves its task unacknowledged in Redis until the
visibility timeout (hours, on purpose) and its chunks marked running. The
heartbeats in the database tell the truth sooner: a running transcription whose
heartbeat is older than STALE_AFTER_SECONDS has nobody working on it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy import or_, select

from extensions import db
from models import Transcription, TranscriptionStatus
from tasks import chunk_claims
from tasks.heartbeat import stale_before

log = logging.getLogger(__name__)


@shared_task(name="tasks.recovery.recover_stale_transcriptions")
def recover_stale_transcriptions() -> list[int]:
    """Queue again every abandoned transcription; return their ids."""
    from tasks.service import BrokerUnavailable, TranscriptionService

    threshold = stale_before(current_app.config["STALE_AFTER_SECONDS"])
    abandoned = db.session.scalars(
        select(Transcription).where(or_(
            # Running, but nobody has vouched for it lately.
            (Transcription.status == TranscriptionStatus.RUNNING)
            & or_(Transcription.heartbeat_at.is_(None), Transcription.heartbeat_at < threshold),
            # Saved while the broker was down: never enqueued.
            (Transcription.status == TranscriptionStatus.QUEUED) & (Transcription.job_id == ""),
        ))
    ).all()
    recovered = []
    for transcription in abandoned:
        moved = chunk_claims.set_transcription_status(
            transcription.id, TranscriptionStatus.QUEUED, expected=(transcription.status,))
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
