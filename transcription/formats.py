"""How times and transcripts are written out for people and files."""

from __future__ import annotations


def format_clock(ms: int) -> str:
    """A duration as people read it: 7:05, 1:02:03."""
    seconds = max(0, int(ms)) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
