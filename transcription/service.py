"""Transcribing one chunk under the retry policy: transient failures are tried
again after a delay, permanent ones fail at once, and an answer is never asked
for twice because the caller saves it before anything else can go wrong."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from transcription.engines import (
    ChunkTranscript,
    PermanentEngineError,
    TranscriptionEngine,
    TransientEngineError,
)

log = logging.getLogger(__name__)

# A Retry-After longer than this is not waited for in a worker slot.
MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    delay_seconds: float = 60.0

    def delay_for(self, error: TransientEngineError) -> float:
        if error.retry_after is not None:
            return min(max(error.retry_after, self.delay_seconds), MAX_RETRY_AFTER_SECONDS)
        return self.delay_seconds


class ChunkFailed(Exception):
    """The chunk could not be transcribed; the message says why, for users."""


def transcribe_with_retries(
    engine: TranscriptionEngine,
    audio_path: str,
    prompt: str,
    policy: RetryPolicy,
    *,
    attempts_made: int = 0,
    before_attempt: Callable[[int], None] = lambda attempt: None,
    wait: Callable[[float], None] = time.sleep,
) -> ChunkTranscript:
    """Call the engine until it answers, a permanent error occurs, or attempts run out.

    `attempts_made` counts earlier attempts (a resumed chunk keeps its count);
    `before_attempt(n)` runs before the n-th attempt (1-based) so the caller can
    record it and stop if the work was canceled; `wait` sleeps between attempts.
    """
    attempt = attempts_made
    while True:
        attempt += 1
        if attempt > policy.max_attempts:
            raise ChunkFailed(f"Gave up after {policy.max_attempts} attempts.")
        before_attempt(attempt)
        try:
            return engine.transcribe(audio_path, prompt)
        except PermanentEngineError as exc:
            raise ChunkFailed(str(exc)) from exc
        except TransientEngineError as exc:
            if attempt >= policy.max_attempts:
                raise ChunkFailed(f"{exc} Gave up after {attempt} attempts.") from exc
            delay = policy.delay_for(exc)
            log.warning("Attempt %d of %d failed (%s); retrying in %.1f s", attempt, policy.max_attempts, exc, delay)
            wait(delay)
