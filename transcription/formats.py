"""How times and transcripts are written out for people and files: clock times for pages, and
SubRip (.srt), WebVTT (.vtt), JSON and Word (.docx) downloads. Free of Flask."""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from transcription.segments import TimedSegment

# Subtitle conventions (broadcast and streaming style guides): at most two lines of about
# 42 characters, on screen for at most about 7 seconds.
MAX_LINE_CHARS = 42
MAX_CUE_CHARS = 2 * MAX_LINE_CHARS
MAX_CUE_MS = 7_000
# A cue squeezed by its neighbours still stays up long enough to be seen.
MIN_CUE_MS = 300


def format_clock(ms: int) -> str:
    """A duration as people read it: 7:05, 1:02:03."""
    return _clock(max(0, int(ms)) // 1000)


# Every progress poll writes a few dozen of these (each chunk's range); they repeat endlessly.
@functools.lru_cache(maxsize=4096)
def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rough_duration(ms: int) -> str:
    """An estimate as people say it: "under a minute", "about 12 min", "about 1 h 20 min"."""
    minutes = round(max(0, int(ms)) / 60_000)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"about {minutes} min"
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def format_timestamp(ms: int, separator: str = ",") -> str:
    """HH:MM:SS,mmm (SubRip) or, with separator ".", HH:MM:SS.mmm (WebVTT)."""
    ms = max(0, int(ms))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


@dataclass(frozen=True)
class TranscriptInfo:
    """What a downloaded transcript says about where it came from."""

    transcription_id: int
    recording_name: str
    duration_ms: int
    engine: str
    model: str
    uploaded_at: datetime | None = None
    # "segments": times from the engine; "chunks": the engine gave text only, times are the chunks'.
    timing: str = "segments"


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def subtitle_cues(segments: Sequence[TimedSegment], duration_ms: int) -> list[Cue]:
    """Segments as subtitle cues: long ones split, times in order, never overlapping, never past the
    end of the recording, each at most two lines."""
    cues: list[Cue] = []
    pieces = sorted((piece for segment in segments for piece in _split(segment)), key=lambda p: p.start_ms)
    for piece in pieces:
        previous_end = cues[-1].end_ms if cues else 0
        start = min(max(piece.start_ms, previous_end), duration_ms)
        # Up long enough to be read, and no longer than a cue should stay up.
        end = min(max(piece.end_ms, start + MIN_CUE_MS), start + MAX_CUE_MS, duration_ms)
        if end <= start:
            if not cues:
                continue
            # No time left at the end of the recording: the words join the last cue rather than vanish.
            last = cues.pop()
            piece = TimedSegment(last.start_ms, last.end_ms, " ".join((*last.lines, piece.text)))
            start, end = last.start_ms, last.end_ms
        cues.append(Cue(start, end, _lines(piece.text)))
    return cues


def _split(segment: TimedSegment) -> list[TimedSegment]:
    """A segment cut into pieces short enough to read as one cue each; time is shared out by characters."""
    words = segment.text.split()
    if not words:
        return []
    text = " ".join(words)
    span = max(0, segment.end_ms - segment.start_ms)
    # Enough pieces for two lines each, and for time: a long span is cut into more pieces, down to a
    # line's worth of text each; a few words over a long span (a text-only chunk) stay one cue.
    by_time = min(math.ceil(span / MAX_CUE_MS), math.ceil(len(text) / MAX_LINE_CHARS))
    pieces_wanted = max(1, math.ceil(len(text) / MAX_CUE_CHARS), by_time)
    target = max(1, math.ceil(len(text) / pieces_wanted))
    groups: list[list[str]] = [[]]
    for word in words:
        if groups[-1] and len(" ".join([*groups[-1], word])) > target:
            groups.append([])
        groups[-1].append(word)
    pieces, done = [], 0
    for group in groups:
        piece = " ".join(group)
        begin = segment.start_ms + span * done // len(text)
        done = min(len(text), done + len(piece) + 1)
        pieces.append(TimedSegment(begin, segment.start_ms + span * done // len(text), piece))
    return pieces


def _lines(text: str) -> tuple[str, ...]:
    """One line, or two of balanced length broken at a space."""
    if len(text) <= MAX_LINE_CHARS or " " not in text:
        return (text,)
    words = text.split(" ")
    best = min(range(1, len(words)), key=lambda i: max(len(" ".join(words[:i])), len(" ".join(words[i:]))))
    return " ".join(words[:best]), " ".join(words[best:])


def to_srt(segments: Sequence[TimedSegment], duration_ms: int) -> str:
    """SubRip: numbered cues, HH:MM:SS,mmm times."""
    blocks = []
    for number, cue in enumerate(subtitle_cues(segments, duration_ms), start=1):
        # A line that looks like a timing line would confuse SubRip readers.
        lines = "\n".join(line.replace("-->", "->") for line in cue.lines)
        blocks.append(f"{number}\n{format_timestamp(cue.start_ms)} --> {format_timestamp(cue.end_ms)}\n{lines}\n")
    return "\n".join(blocks)


def to_vtt(segments: Sequence[TimedSegment], duration_ms: int) -> str:
    """WebVTT: the header, then numbered cues with HH:MM:SS.mmm times and escaped text."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(subtitle_cues(segments, duration_ms), start=1):
        lines = "\n".join(_vtt_escape(line) for line in cue.lines)
        blocks.append(f"{number}\n{format_timestamp(cue.start_ms, '.')} --> "
                      f"{format_timestamp(cue.end_ms, '.')}\n{lines}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clamped(segments: Sequence[TimedSegment], duration_ms: int) -> list[TimedSegment]:
    """Segments with their times inside the recording (an engine's last end may run a little past it)."""
    result = []
    for segment in segments:
        start = min(max(0, segment.start_ms), duration_ms)
        result.append(TimedSegment(start, min(max(start, segment.end_ms), duration_ms), segment.text))
    return result


def to_json(segments: Sequence[TimedSegment], text: str, info: TranscriptInfo) -> str:
    """The transcript with its segments (seconds and ms) and where it came from."""
    document = {
        "recording": {
            "name": info.recording_name,
            "duration_ms": info.duration_ms,
            "duration": format_clock(info.duration_ms),
            "uploaded_at": info.uploaded_at.isoformat() if info.uploaded_at else None,
        },
        "transcription": {"id": info.transcription_id, "engine": info.engine, "model": info.model,
                          "timing": info.timing},
        "text": text,
        "segments": [
            {"id": number, "start": segment.start_ms / 1000, "end": segment.end_ms / 1000,
             "start_ms": segment.start_ms, "end_ms": segment.end_ms, "text": segment.text}
            for number, segment in enumerate(clamped(segments, info.duration_ms))
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def to_docx(segments: Sequence[TimedSegment], info: TranscriptInfo) -> bytes:
    """A Word document: the recording's name, where the transcript came from, then one paragraph
    per segment led by its time."""
    # Imported here: only this download needs python-docx (and lxml), not every process.
    from docx import Document
    from docx.shared import Pt, RGBColor

    document = Document()
    document.core_properties.title = info.recording_name
    document.add_heading(info.recording_name, level=1)
    about = f"{format_clock(info.duration_ms)} long · transcribed by {info.engine} ({info.model})"
    if info.uploaded_at:
        about += f" · uploaded {info.uploaded_at.strftime('%Y-%m-%d %H:%M UTC')}"
    document.add_paragraph(about).runs[0].font.color.rgb = RGBColor(0x5F, 0x63, 0x68)
    for segment in clamped(segments, info.duration_ms):
        paragraph = document.add_paragraph()
        stamp = paragraph.add_run(f"[{format_clock(segment.start_ms)}]  ")
        stamp.font.color.rgb = RGBColor(0x5F, 0x63, 0x68)
        stamp.font.size = Pt(9)
        paragraph.add_run(segment.text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
