"""A fake OpenAI-compatible transcription server on 127.0.0.1, over real HTTP.

It implements `POST /v1/audio/transcriptions` (multipart: file, model, prompt,
response_format), "transcribes" DTMF digit bursts exactly (tests/support/dtmf.py),
records every request in a ledger, and can be told to fail: an HTTP status, a
hang past the client's timeout, or a fixed response time for every answer.

What it heard in an upload it remembers by the upload's SHA-256: the same bytes
again are answered without decoding them (a benchmark's warm-up run takes the
fake's decoding off the machine's CPU for the timed run, as a real API's is).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support.dtmf import decode_dtmf_file, words_text


@dataclass
class RecordedRequest:
    """One request as the server saw it, answered or not."""

    number: int
    model: str
    prompt: str
    response_format: str
    filename: str
    size: int
    sha256: str
    text: str
    words: list = field(default_factory=list)
    answered_status: int = 0
    late_seconds: float = 0.0  # how long after its fixed response time the answer went out


@dataclass
class Fault:
    """Fail the next `times` requests that `match` (all requests when None)."""

    status: int = 500
    hang_seconds: float = 0.0
    times: int = 1
    match: Callable[[RecordedRequest], bool] | None = None
    message: str = "Injected failure"


class FakeOpenAI:
    def __init__(self, delay_seconds: float = 0.0, segment_gap_ms: int = 500):
        self.delay_seconds = delay_seconds
        self.segment_gap_ms = segment_gap_ms
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._heard: dict[str, list] = {}  # words by upload SHA-256
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = None
        self._thread = None

    # -- control -------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
        self.delay_seconds = 0.0

    def fail(self, status: int = 500, *, times: int = 1, match=None, hang_seconds: float = 0.0,
             message: str = "Injected failure") -> None:
        with self._lock:
            self.faults.append(Fault(status, hang_seconds, times, match, message))

    def answered(self) -> list[RecordedRequest]:
        """Requests the server answered with 200: each one billed."""
        with self._lock:
            return [r for r in self.requests if r.answered_status == 200]

    # -- serving -------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.method != "POST" or request.path != "/v1/audio/transcriptions":
            return _json({"error": {"message": "Not found"}}, 404)(environ, start_response)
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _json({"error": {"message": "Missing API key"}}, 401)(environ, start_response)
        return self._transcribe(request)(environ, start_response)

    def _transcribe(self, request: Request) -> Response:
        # A fixed delay is a fixed response time: "transcribing" happens within it.
        answer_at = time.monotonic() + self.delay_seconds
        upload = request.files.get("file")
        if upload is None:
            return _json({"error": {"message": "file is required"}}, 400)
        data = upload.read()
        sha256 = hashlib.sha256(data).hexdigest()
        words = self._heard.get(sha256)
        if words is None:
            with tempfile.NamedTemporaryFile(suffix=Path(upload.filename or "a.flac").suffix) as tmp:
                tmp.write(data)
                tmp.flush()
                try:
                    words = decode_dtmf_file(tmp.name)
                except Exception as exc:  # undecodable audio is the client's fault
                    return _json({"error": {"message": f"Invalid file format: {exc}"}}, 400)
            self._heard[sha256] = words
        with self._lock:
            recorded = RecordedRequest(
                number=len(self.requests) + 1,
                model=request.form.get("model", ""),
                prompt=request.form.get("prompt", ""),
                response_format=request.form.get("response_format", "json"),
                filename=upload.filename or "",
                size=len(data),
                sha256=sha256,
                text=words_text(words),
                words=words,
            )
            self.requests.append(recorded)
            fault = self._take_fault(recorded)
        if fault is not None:
            if fault.hang_seconds:
                self._release.wait(fault.hang_seconds)
            recorded.answered_status = fault.status
            headers = {"Retry-After": "0"} if fault.status == 429 else {}
            return _json({"error": {"message": fault.message, "type": "injected"}}, fault.status, headers)
        self._release.wait(max(0.0, answer_at - time.monotonic()))
        recorded.late_seconds = max(0.0, time.monotonic() - answer_at)
        recorded.answered_status = 200
        return self._answer(recorded)

    def _take_fault(self, recorded: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and (fault.match is None or fault.match(recorded)):
                fault.times -= 1
                return fault
        return None

    def _answer(self, recorded: RecordedRequest) -> Response:
        if recorded.response_format == "text":
            return Response(recorded.text, mimetype="text/plain")
        if recorded.response_format != "verbose_json":
            return _json({"text": recorded.text})
        segments = []
        for group in self._phrases(recorded.words):
            segments.append({
                "id": len(segments),
                "seek": 0,
                "start": group[0].start_ms / 1000,
                "end": group[-1].end_ms / 1000,
                "text": " " + words_text(group),
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            })
        duration = recorded.words[-1].end_ms / 1000 if recorded.words else 0.0
        return _json({"task": "transcribe", "language": "english", "duration": duration,
                      "text": recorded.text, "segments": segments})

    def _phrases(self, words) -> list[list]:
        """Words grouped into segments wherever a pause is longer than segment_gap_ms."""
        groups: list[list] = []
        for word in words:
            if groups and word.start_ms - groups[-1][-1].end_ms <= self.segment_gap_ms:
                groups[-1].append(word)
            else:
                groups.append([word])
        return groups


def _json(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)
