"""Claiming chunks: the compare-and-set that keeps lanes from sharing one, on the real database."""

import uuid

from extensions import db
from models import ChunkStatus, SessionAudio, TranscriptChunk
from tasks import chunk_claims
from tasks.pipeline import new_transcription


def test_a_cut_ahead_leaves_the_first_rounds_chunks_to_lanes_still_starting(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRANSCRIPTION_CONCURRENCY", 4)
    with app.app_context():
        session_audio = SessionAudio(original_name="talk.mp3", stored_name=f"{uuid.uuid4().hex}.mp3",
                                     size_bytes=1, duration_ms=60_000)
        transcription = new_transcription(session_audio, app.config)
        transcription.chunk_count = 6
        db.session.add_all([session_audio, transcription])
        db.session.flush()
        db.session.add_all(TranscriptChunk(transcription_id=transcription.id, index=index, start_ms=index * 10_000,
                                           end_ms=(index + 1) * 10_000, status=ChunkStatus.PENDING)
                           for index in range(6))  # fmt: skip
        db.session.commit()
        try:
            # The first lane took chunk 0 and, while it is with the API, cuts ahead: not chunk 1.
            first = chunk_claims.claim_next_chunk(transcription.id, "lane-a", 60)
            ahead = chunk_claims.claim_next_chunk(transcription.id, "lane-a", 60, min_index=transcription.concurrency)
            starting = [chunk_claims.claim_next_chunk(transcription.id, f"lane-{n}", 60) for n in "bcd"]
            assert (first.index, ahead.index, [chunk.index for chunk in starting]) == (0, 4, [1, 2, 3])
            assert chunk_claims.claim_next_chunk(transcription.id, "lane-b", 60, min_index=4).index == 5
            assert chunk_claims.claim_next_chunk(transcription.id, "lane-c", 60) is None
        finally:
            db.session.delete(transcription)
            db.session.delete(session_audio)
            db.session.commit()
