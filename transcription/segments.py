"""Timed segments of a transcript: stretches of text with times on the recording's timeline."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimedSegment:
    """Text spoken from `start_ms` to `end_ms`, in ms from the start of the recording."""

    start_ms: int
    end_ms: int
    text: str


def chunk_segments(start_ms: int, end_ms: int, text: str | None, segments_json: str | None) -> list[TimedSegment]:
    """A chunk's segments: those the engine timed (stored already shifted to the recording's
    timeline), or, for engines that answer text only, one segment spanning the whole chunk."""
    timed = [TimedSegment(int(start), int(end), str(words).strip())
             for start, end, words in json.loads(segments_json or "[]")]
    timed = [segment for segment in timed if segment.text]
    if timed:
        return timed
    text = (text or "").strip()
    return [TimedSegment(start_ms, end_ms, text)] if text else []
