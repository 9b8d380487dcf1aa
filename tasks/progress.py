"""Progress of a transcription mirrored into its pipeline job's meta.

The database is the source of truth; RQ-style callers read the same numbers
with `Job.fetch(transcription.job_id, connection=...).meta`.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import select

from extensions import db
from models import Transcription
from tasks.rq import redis_connection
from tasks.rq.exceptions import NoSuchJobError
from tasks.rq.job import Job

log = logging.getLogger(__name__)


def mirror_progress(transcription_id: int) -> None:
    """Copy status and chunk counts from the database into the pipeline job's meta."""
    row = db.session.execute(
        select(Transcription.job_id, Transcription.status, Transcription.chunks_done, Transcription.chunk_count)
        .where(Transcription.id == transcription_id)
    ).one_or_none()
    db.session.rollback()
    if row is None or not row.job_id:
        return
    try:
        job = Job.fetch(row.job_id, connection=redis_connection())
        job.meta.update(transcription_id=transcription_id, status=row.status,
                        chunks_done=row.chunks_done, chunk_count=row.chunk_count)
        job.save_meta()
    except NoSuchJobError:
        pass  # expired or lost with Redis; the database still knows
    except RedisError:
        log.warning("could not mirror progress of transcription %s to its job", transcription_id, exc_info=True)
