"""Transcription engines: turn one chunk of audio into text with timed segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import openai


@dataclass(frozen=True)
class Segment:
    """A stretch of text with times in milliseconds, relative to the chunk's start."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class ChunkTranscript:
    text: str
    segments: list[Segment] = field(default_factory=list)


class EngineError(Exception):
    """A chunk could not be transcribed; the message is fit to show to users."""


class TransientEngineError(EngineError):
    """Worth another attempt: network trouble, a timeout, a rate limit, a server error."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentEngineError(EngineError):
    """Asking again would give the same answer: bad request, bad key, file too large, bad audio."""


class TranscriptionEngine(Protocol):
    name: str
    model: str

    def transcribe(self, audio_path: str, prompt: str = "") -> ChunkTranscript: ...


# Only whisper-1 returns segments with times; the gpt-4o transcribe models answer text.
MODELS_WITH_SEGMENTS = {"whisper-1"}

TRANSIENT_STATUS_CODES = {408, 409, 429}


class OpenAIEngine:
    """The OpenAI transcription API, or any server that speaks it (OPENAI_BASE_URL)."""

    name = "openai"

    def __init__(self, api_key: str, model: str = "whisper-1", base_url: str | None = None,
                 timeout: float = 300.0):
        self.model = model
        self._api_key = api_key
        # Retries are ours (billing-safe and visible per chunk), so the client makes none.
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def transcribe(self, audio_path: str, prompt: str = "") -> ChunkTranscript:
        timed = self.model in MODELS_WITH_SEGMENTS
        try:
            with open(audio_path, "rb") as audio:
                response = self._client.audio.transcriptions.create(
                    model=self.model,
                    file=audio,
                    prompt=prompt or openai.omit,
                    response_format="verbose_json" if timed else "json",
                )
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not be reached"
            raise TransientEngineError(f"The transcription API {kind}.") from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        return _parse_response(response, timed)

    def _status_error(self, exc: openai.APIStatusError) -> EngineError:
        status = exc.status_code
        detail = self._redact(_error_detail(exc))
        message = f"The transcription API answered HTTP {status}: {detail}"
        if status in TRANSIENT_STATUS_CODES or status >= 500:
            return TransientEngineError(message, retry_after=_retry_after(exc))
        return PermanentEngineError(message)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
    return (exc.message or exc.__class__.__name__)[:500]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    raw = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _parse_response(response, timed: bool) -> ChunkTranscript:
    text = (response if isinstance(response, str) else response.text or "").strip()
    segments = []
    if timed:
        for segment in getattr(response, "segments", None) or []:
            segments.append(Segment(
                start_ms=round(segment.start * 1000),
                end_ms=round(segment.end * 1000),
                text=segment.text.strip(),
            ))
    return ChunkTranscript(text=text, segments=segments)


def build_engine(engine_name: str, model: str, config) -> TranscriptionEngine:
    """The engine a transcription asked for, configured from the app's settings."""
    if engine_name == "openai":
        if not config.get("OPENAI_API_KEY"):
            raise PermanentEngineError("OPENAI_API_KEY is not set, so the OpenAI engine cannot be used.")
        return OpenAIEngine(
            api_key=config["OPENAI_API_KEY"],
            model=model,
            base_url=config.get("OPENAI_BASE_URL") or None,
            timeout=float(config.get("OPENAI_TIMEOUT_SECONDS", 300.0)),
        )
    raise PermanentEngineError(f"Unknown transcription engine {engine_name!r}.")
