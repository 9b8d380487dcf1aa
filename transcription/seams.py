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
    words: list[str] = []
    previous: tuple[ChunkRange, int] | None = None  # the previous chunk and how many words it had
    for chunk, text in sorted(chunks, key=lambda pair: pair[0].index):
        incoming = text.split()
        if previous is not None and previous[0].end_ms > chunk.start_ms:
            reach = _search_words(*previous, overlap_ms=previous[0].end_ms - chunk.start_ms)
            tail_start = max(0, len(words) - reach)
            keep, skip = seam(words[tail_start:], incoming[:reach])
            del words[tail_start + keep :]
            incoming = incoming[skip:]
        words.extend(incoming)
        previous = chunk, len(text.split())
    return " ".join(words)


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
