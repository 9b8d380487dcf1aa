"""The committed speech sample (tests/data/speech-en.ogg, see tests/data/README.md) and how
much of it a recogniser got right."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech-en.ogg"
FIRST = "we will meet again on monday morning to discuss the budget for next year"
SECOND = "the meeting starts at nine and the report is due on friday"
PAUSE_STARTS_MS, PAUSE_ENDS_MS = 5700, 6700  # the silence between the two sentences


def words_recognised(spoken: str, recognised: str) -> float:
    """The share of the spoken words that were recognised (as a multiset: each word counts once per use)."""
    said = Counter(re.findall(r"[a-z']+", spoken.lower()))
    heard = Counter(re.findall(r"[a-z']+", recognised.lower()))
    return sum((said & heard).values()) / sum(said.values())
