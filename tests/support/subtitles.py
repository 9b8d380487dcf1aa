"""Reading SubRip and WebVTT files back strictly, as a validator would."""

from __future__ import annotations

import re
from dataclasses import dataclass

SRT_TIME = r"(\d{2}):([0-5]\d):([0-5]\d),(\d{3})"
VTT_TIME = r"(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})"


@dataclass(frozen=True)
class ParsedCue:
    number: int
    start_ms: int
    end_ms: int
    text: str


def _ms(hours: str, minutes: str, seconds: str, millis: str) -> int:
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def parse_subtitles(content: str, kind: str) -> list[ParsedCue]:
    """Parse `content` ("srt" or "vtt"), asserting the format: cues numbered 1, 2, 3..., well-formed
    times, at least one text line and at most two per cue, blocks separated by one blank line."""
    time = SRT_TIME if kind == "srt" else VTT_TIME
    timing = re.compile(rf"^{time} --> {time}$")
    assert content.endswith("\n") and "\r" not in content
    blocks = content.rstrip("\n").split("\n\n")
    if kind == "vtt":
        assert blocks[0] == "WEBVTT", blocks[0]
        blocks = blocks[1:]
    cues = []
    for expected_number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(expected_number), f"cue {expected_number} numbered {lines[0]!r}"
        match = timing.match(lines[1])
        assert match, f"bad timing line {lines[1]!r}"
        text_lines = lines[2:]
        assert 1 <= len(text_lines) <= 2 and all(line.strip() for line in text_lines), block
        groups = match.groups()
        cues.append(ParsedCue(expected_number, _ms(*groups[:4]), _ms(*groups[4:]), " ".join(text_lines)))
    return cues


def assert_valid_timeline(cues: list[ParsedCue], duration_ms: int, max_cue_ms: int = 10_000) -> None:
    """Cues in order, none overlapping the next, none empty or too long, none past the recording's end."""
    previous_end = 0
    for cue in cues:
        assert cue.start_ms >= previous_end, f"cue {cue.number} overlaps the one before"
        assert cue.start_ms < cue.end_ms <= duration_ms, f"cue {cue.number}: {cue}"
        assert cue.end_ms - cue.start_ms <= max_cue_ms, f"cue {cue.number} stays up too long"
        previous_end = cue.end_ms
