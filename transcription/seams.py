"""Joining chunk transcripts into one, keeping once the words heard twice where chunks overlap.

Chunks cut at a silence do not overlap and are simply joined. Chunks cut in the
middle of speech overlap by a couple of seconds, so the words spoken there end
one chunk's text and start the next one's, and a word cut by either edge may be
missing or garbled on that side. The seam is found by matching the two runs of
words and placed in the middle of the match, where both transcripts are sound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from transcription.audio import ChunkRange
from transcription.segments import TimedSegment

# Words at a cut edge may be missing or garbled: this many are tolerated on each side.
EDGE_WORDS = 3
# Overlaps fall in continuous speech, faster than a chunk's average rate (which counts its
# pauses): look this many times further than the average rate says the overlap reaches.
RATE_SLACK = 2.0
MIN_SEARCH_WORDS = 8


def merge_chunk_texts(chunks: Iterable[tuple[ChunkRange, str]]) -> str:
    """The transcript of a recording from its chunks' texts, in index order, seams de-duplicated.

    Where chunk k ends after chunk k+1 starts, the words of chunk k+1 that repeat
    the end of chunk k are dropped; elsewhere texts are joined as they are.
    """
    timed = [(chunk, [TimedSegment(chunk.start_ms, chunk.end_ms, text)]) for chunk, text in chunks]
    return " ".join(segment.text for segment in merge_chunk_segments(timed))


def merge_chunk_segments(chunks: Iterable[tuple[ChunkRange, Sequence[TimedSegment]]]) -> list[TimedSegment]:
    """The timed transcript of a recording from its chunks' segments, in index order, seams de-duplicated
    exactly as merge_chunk_texts does with the words.

    A segment that loses words at a seam keeps its other end and gives up the lost words' share of
    its time (segments carry no word times, so words are taken to be evenly spread); segments
    of chunks that do not overlap are kept as they are.
    """
    words: list[tuple[str, int, int]] = []  # each word kept so far: (word, its segment, its place in it)
    segments: list[TimedSegment] = []
    previous: tuple[ChunkRange, int] | None = None  # the previous chunk and how many words it had
    for chunk, chunk_segments in sorted(chunks, key=lambda pair: pair[0].index):
        incoming = []
        for segment in chunk_segments:
            incoming.extend((word, len(segments), place) for place, word in enumerate(segment.text.split()))
            segments.append(segment)
        chunk_words = len(incoming)
        if previous is not None and previous[0].end_ms > chunk.start_ms:
            reach = _search_words(*previous, overlap_ms=previous[0].end_ms - chunk.start_ms)
            tail_start = max(0, len(words) - reach)
            keep, skip = seam([word[0] for word in words[tail_start:]], [word[0] for word in incoming[:reach]])
            del words[tail_start + keep :]
            incoming = incoming[skip:]
        words.extend(incoming)
        previous = chunk, chunk_words
    return [_kept_part(segments[run[0][1]], run) for run in _runs_by_segment(words)]


def _runs_by_segment(words: Sequence[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    runs: list[list[tuple[str, int, int]]] = []
    for word in words:
        if runs and runs[-1][-1][1] == word[1]:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _kept_part(segment: TimedSegment, run: Sequence[tuple[str, int, int]]) -> TimedSegment:
    """The words of `segment` that `run` kept, with the share of its time they take."""
    total = len(segment.text.split())
    first, last = run[0][2], run[-1][2] + 1
    span = segment.end_ms - segment.start_ms
    return TimedSegment(segment.start_ms + span * first // total, segment.start_ms + span * last // total,
                        " ".join(word for word, _, _ in run))


def _search_words(chunk: ChunkRange, word_count: int, *, overlap_ms: int) -> int:
    """How many words at each side of a seam to search for the overlap: generously many."""
    rate = word_count / max(1, chunk.end_ms - chunk.start_ms)
    return max(MIN_SEARCH_WORDS, math.ceil(RATE_SLACK * rate * overlap_ms) + EDGE_WORDS)


def seam(before: Sequence[str], after: Sequence[str]) -> tuple[int, int]:
    """Where to join `before` (the end of one transcript) and `after` (the start of the next).

    Returns (keep, skip): the joined words are before[:keep] + after[skip:]. The
    longest run of words both share (compared without case or punctuation) is
    taken as the overlap, and the join falls in its middle, so a garbled or
    missing word at either edge is replaced by the other side's. With no shared
    word, nothing is dropped: (len(before), 0).
    """
    a, b = [_normal(word) for word in before], [_normal(word) for word in after]
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    if match.size == 0 or not _plausible(len(a) - (match.a + match.size), match.b, match.size):
        return len(before), 0
    half = match.size // 2
    return match.a + half, match.b + half


def _plausible(dropped_before: int, dropped_after: int, size: int) -> bool:
    """Whether a match of `size` words can be the overlap, given the words outside it that the join
    drops on each side: only edge words, or the rest of an overlap split by a garbled word."""
    return max(dropped_before, dropped_after) <= EDGE_WORDS + size


def _normal(word: str) -> str:
    return re.sub(r"\W", "", word.casefold())
