"""Planning a transcription: its chunks, one row each, recorded as they are found.

The rows of the first chunks (one per lane) are recorded before planning
returns, so every lane can start at once; a background thread records the rest
while the lanes work. Planning is deterministic, so a run that died mid-plan is
resumed by planning again and adding the rows that are missing.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import Flask, current_app

from extensions import db, get_storage
from models import ChunkStatus, SessionAudio, TranscriptChunk, Transcription
from transcription.audio import (
    ChunkPlan,
    ChunkRange,
    PreparedAudio,
    chunk_format,
    plan_chunks,
    plan_recording_stepwise,
    prepare,
    probe,
)

log = logging.getLogger(__name__)


def max_audio_ms(config) -> int | None:
    """MAX_AUDIO_MINUTES in ms, None for no limit (0). Uploads are probed against it, and the
    worker never decodes past it, whatever a container states."""
    minutes = int(config["MAX_AUDIO_MINUTES"])
    return minutes * 60_000 if minutes > 0 else None


def is_fully_planned(transcription: Transcription) -> bool:
    return transcription.chunk_count > 0 and len(transcription.chunks) == transcription.chunk_count


class RestOfPlan(threading.Thread):
    """Records the chunks planning finds after the first ones, each the moment it is found."""

    def __init__(self, app: Flask, transcription_id: int, ranges: Iterator[ChunkRange]):
        super().__init__(name=f"planning-{transcription_id}", daemon=True)
        self._app = app
        self._transcription_id = transcription_id
        self._ranges = ranges
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with self._app.app_context():  # its own session: sessions are per app context
                for chunk_range in self._ranges:
                    _record_chunks(self._transcription_id, [chunk_range])
            log.info("transcription %s fully planned", self._transcription_id)
        except Exception as exc:  # the pipeline task sees it and fails the transcription (Retry)
            self.error = exc


def plan_transcription(transcription: Transcription) -> RestOfPlan | None:
    """Record the transcription's chunk count and its first chunks (one per lane); return the
    started thread that records the others, or None if there are none left to find."""
    session_audio = transcription.session_audio
    source = get_storage().local_path(session_audio.audio_key)
    info = probe(source, max_duration_ms=max_audio_ms(current_app.config))
    chunk_ms = transcription.chunk_seconds * 1000
    if info.seekable:
        plan = plan_recording_stepwise(source, info, chunk_ms, lanes=transcription.concurrency)
    else:
        prepared = _make_working_copy(session_audio)
        ranges = plan_chunks(prepared.duration_ms, prepared.silences, chunk_ms, lanes=transcription.concurrency)
        plan = ChunkPlan(len(ranges), iter(ranges))
    recorded = {chunk.index for chunk in transcription.chunks}
    missing = (chunk_range for chunk_range in plan.ranges if chunk_range.index not in recorded)
    transcription.chunk_format = chunk_format(info)
    transcription.chunk_count = plan.count
    db.session.commit()
    _record_chunks(transcription.id, itertools.islice(missing, transcription.concurrency))
    log.info("transcription %s planned as %d chunks", transcription.id, plan.count)
    db.session.expire(transcription)
    if is_fully_planned(transcription):
        return None
    rest = RestOfPlan(current_app._get_current_object(), transcription.id, missing)
    rest.start()
    return rest


def _record_chunks(transcription_id: int, ranges: Iterable[ChunkRange]) -> None:
    for chunk_range in ranges:
        db.session.add(TranscriptChunk(
            transcription_id=transcription_id, index=chunk_range.index, start_ms=chunk_range.start_ms,
            end_ms=chunk_range.end_ms, status=ChunkStatus.PENDING,
        ))
    db.session.commit()


def _make_working_copy(session_audio: SessionAudio) -> PreparedAudio:
    """For a source that cannot be cut by seeking (a live-streamed webm): decode it once into a
    16 kHz mono working copy in storage, which the lanes cut chunks from instead."""
    storage = get_storage()
    with tempfile.TemporaryDirectory(prefix="prepare-") as workdir:
        prepared = prepare(storage.local_path(session_audio.audio_key), Path(workdir),
                           max_duration_ms=max_audio_ms(current_app.config))
        storage.put_file(session_audio.work_key, prepared.wav_path, move=True)
    return prepared


def ensure_working_copy(session_audio: SessionAudio, chunks: list[TranscriptChunk]) -> None:
    """On resume: a source that needs a working copy gets it back if it was removed."""
    storage = get_storage()
    if storage.exists(session_audio.work_key) or all(c.status == ChunkStatus.DONE for c in chunks):
        return
    if not probe(storage.local_path(session_audio.audio_key)).seekable:
        _make_working_copy(session_audio)
