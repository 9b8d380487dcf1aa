"""Transcription engines: turn one chunk of audio into text with timed segments."""

from __future__ import annotations

import functools
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Protocol

import openai

from transcription.ffmpeg import ffmpeg_binary


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


@functools.lru_cache(maxsize=8)
def _openai_client(api_key: str, base_url: str | None, timeout: float) -> openai.OpenAI:
    """One client per process and setting: building one (HTTP pool, TLS context) costs a good
    part of a second, and a client is safe to share between threads.

    Retries are ours (billing-safe and visible per chunk), so the client makes none.
    """
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


class OpenAIEngine:
    """The OpenAI transcription API, or any server that speaks it (OPENAI_BASE_URL)."""

    name = "openai"

    def __init__(self, api_key: str, model: str = "whisper-1", base_url: str | None = None,
                 timeout: float = 300.0):
        self.model = model
        self._api_key = api_key
        self._client = _openai_client(api_key, base_url, timeout)

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


class PocketSphinxEngine:
    """Offline speech recognition with PocketSphinx and the English model its package ships.

    No key, no network: the fallback that lets the app work out of the box. Far
    less accurate than Whisper; the prompt is ignored (it has no use for one).
    """

    name = "pocketsphinx"
    SAMPLE_RATE = 16000
    # Recognised tokens that are not words: sentence marks, silence, noise, fillers.
    NON_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[LAUGH]", "[COUGH]"}

    # One decoder per process: loading the model takes a second and 30 MB, and a
    # decoder holds one utterance at a time, hence the lock.
    _decoder = None
    _initial_cmn: str = ""
    _lock = threading.Lock()

    def __init__(self, model: str = "en-us"):
        if model != OFFLINE_MODEL:
            raise PermanentEngineError(
                f"The offline engine has only the {OFFLINE_MODEL!r} model, not {model!r}.")
        self.model = model

    def transcribe(self, audio_path: str, prompt: str = "") -> ChunkTranscript:
        from pocketsphinx import Endpointer

        with self._lock:
            decoder = self._loaded_decoder()
            # Cepstral mean normalisation adapts to the audio it hears; start every chunk
            # from the model's default so the same chunk always gives the same text.
            decoder.set_cmn(self._initial_cmn)
            endpointer = Endpointer(sample_rate=self.SAMPLE_RATE)
            segments = [self._decode(decoder, pcm, start_s, end_s)
                        for pcm, start_s, end_s in _speech_regions(audio_path, endpointer)]
        segments = [segment for segment in segments if segment.text]
        return ChunkTranscript(text=" ".join(segment.text for segment in segments), segments=segments)

    @classmethod
    def _loaded_decoder(cls):
        if cls._decoder is None:
            from pocketsphinx import Decoder

            cls._decoder = Decoder(samprate=cls.SAMPLE_RATE, loglevel="FATAL")
            cls._initial_cmn = cls._decoder.get_cmn()
        return cls._decoder

    def _decode(self, decoder, pcm: bytes, start_s: float, end_s: float) -> Segment:
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        words = [_plain_word(s.word) for s in decoder.seg() if s.word not in self.NON_WORDS]
        words = [word for word in words if word and not word.startswith("++")]
        return Segment(start_ms=round(start_s * 1000), end_ms=round(end_s * 1000), text=" ".join(words))


def _plain_word(token: str) -> str:
    """"read(2)" (the second pronunciation of "read") is the word "read"."""
    return token.split("(", 1)[0]


def _speech_regions(audio_path: str, endpointer):
    """Yield (pcm, start_s, end_s) for each stretch of speech in the file, decoded by ffmpeg
    to 16 kHz mono as it is read: only one stretch is held in memory."""
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(audio_path),
               "-map", "0:a:0", "-ac", "1", "-ar", str(PocketSphinxEngine.SAMPLE_RATE), "-f", "s16le", "pipe:1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        frames: list[bytes] = []
        while True:
            frame = process.stdout.read(endpointer.frame_bytes)
            last = len(frame) < endpointer.frame_bytes
            # end_stream flushes the speech still held back; it needs at least one sample.
            speech = endpointer.end_stream(frame or b"\0\0") if last else endpointer.process(frame)
            if speech is not None:
                frames.append(speech)
                if not endpointer.in_speech:
                    yield b"".join(frames), endpointer.speech_start, endpointer.speech_end
                    frames = []
            if last:
                break
        error = process.stderr.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise PermanentEngineError(f"The audio could not be decoded: {error[-300:] or 'ffmpeg failed'}")


OPENAI = "openai"
OFFLINE = "offline"
ENGINE_SETTINGS = ("auto", OPENAI, OFFLINE)
OFFLINE_MODEL = "en-us"


class EngineUnavailable(ValueError):
    """The configured engine cannot be used; the message says how to fix the settings."""


def choose_engine(setting: str, openai_api_key: str, openai_model: str) -> tuple[str, str]:
    """The (engine, model) a new transcription uses, from TRANSCRIPTION_ENGINE.

    "auto" means OpenAI when a key is set, otherwise the offline engine.
    """
    setting = (setting or "auto").strip().lower()
    if setting not in ENGINE_SETTINGS:
        raise EngineUnavailable(
            f"TRANSCRIPTION_ENGINE must be one of {', '.join(ENGINE_SETTINGS)}, got {setting!r}.")
    if setting == OPENAI or (setting == "auto" and openai_api_key):
        if not openai_api_key:
            raise EngineUnavailable(
                "TRANSCRIPTION_ENGINE is openai, which needs an OpenAI API key. Set OPENAI_API_KEY in the "
                "environment or in a .env file in the app's folder (OPENAI_API_KEY=sk-...), or set "
                "TRANSCRIPTION_ENGINE=offline, then restart the app.")
        return OpenAIEngine.name, openai_model
    return PocketSphinxEngine.name, OFFLINE_MODEL


def warm_up_engine(config) -> None:
    """Build the configured API client now (a worker process calls this as it starts), so the
    first chunk the process sends does not wait half a second for imports and a TLS context."""
    try:
        engine_name, model = choose_engine(config.get("TRANSCRIPTION_ENGINE", "auto"),
                                           config.get("OPENAI_API_KEY", ""), config["TRANSCRIPTION_MODEL"])
    except EngineUnavailable:
        return  # transcriptions will say so; a worker still starts
    if engine_name == OpenAIEngine.name:
        build_engine(engine_name, model, config)


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
    if engine_name == PocketSphinxEngine.name:
        return PocketSphinxEngine(model)
    raise PermanentEngineError(f"Unknown transcription engine {engine_name!r}.")
