"""Heartbeats: proof, written to the database every few seconds, that a lane is
alive while it waits on the API. A transcription or chunk whose heartbeat is
older than the stale threshold was abandoned (a killed worker) and may be taken over."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from models import TranscriptChunk, Transcription, utcnow

log = logging.getLogger(__name__)


def stale_before(stale_after_seconds: float) -> datetime:
    """Heartbeats older than this instant are stale."""
    return utcnow() - timedelta(seconds=stale_after_seconds)


def beat(engine: Engine, transcription_id: int, chunk_ids: Iterable[int] = ()) -> None:
    """Record one heartbeat for the transcription and the chunks being worked on.

    Each row in its own transaction: holding the transcription's row lock while
    waiting for a chunk's (or the reverse) would deadlock with a lane saving an
    answer, which locks its chunk and then the transcription.
    """
    now = utcnow()
    chunk_ids = list(chunk_ids)
    if chunk_ids:
        with engine.begin() as connection:
            connection.execute(
                update(TranscriptChunk).where(TranscriptChunk.id.in_(chunk_ids)).values(heartbeat_at=now))
    with engine.begin() as connection:
        connection.execute(update(Transcription).where(Transcription.id == transcription_id).values(heartbeat_at=now))


class Heartbeat:
    """A daemon thread beating every `interval` seconds while the `with` block runs, for the
    transcription and for whichever chunks are held (`hold`/`drop`) at the time.

    It has its own connections (from the engine's pool), so it never shares a
    session with the work it vouches for.
    """

    def __init__(self, engine: Engine, transcription_id: int, interval: float):
        self._engine = engine
        self._transcription_id = transcription_id
        self._interval = interval
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def hold(self, chunk_id: int) -> None:
        with self._lock:
            self._held.add(chunk_id)

    def drop(self, chunk_id: int) -> None:
        with self._lock:
            self._held.discard(chunk_id)

    def _beat(self) -> None:
        with self._lock:
            held = list(self._held)
        beat(self._engine, self._transcription_id, held)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:  # a missed beat is not fatal; the next one may work
                log.warning("heartbeat for transcription %s failed", self._transcription_id, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
