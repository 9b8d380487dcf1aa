"""Benchmark: a 2-hour recording through the whole pipeline, sequential against parallel, in one run.

    python bench/pipeline.py [--hours 2] [--delay 2.0] [--inputs DIR]

Starts its own Redis, a fake OpenAI-compatible server that answers every request
after a fixed delay (2 s by default), and for each mode a real `celery worker`
with 4 processes on a fresh SQLite database. The same recording (speech-like DTMF
in a 44.1 kHz stereo 128 kbps MP3) is transcribed in `sequential` mode (one chunk
at a time, each prompted with the previous chunk's end) and in `parallel` mode
(TRANSCRIPTION_CONCURRENCY=4). Wall time runs from enqueueing to the finished
transcript. Both transcripts are checked against the recording's words.

To know them the fake decodes every upload, and a real API's work is not done
on this machine: on 2 cores, four decodes at once took longer than the fixed
delay and made the fake answer late. So each mode runs twice: an untimed
warm-up, in which the fake decodes the chunks and remembers what it heard by
their SHA-256, then the timed run, whose chunks are the same bytes (the plan is
deterministic). The timed run's latest answer past the fixed delay is printed.
Exits 1 if parallel takes more than 0.35 x sequential (issue 4).
"""

# ruff: noqa: E402 (sys.path is set before the imports that depend on it)
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ first on sys.path, where bench/queue.py would shadow
# the standard library's queue module. The repo root goes there instead.
sys.path[0] = str(REPO_ROOT)

import argparse
import tempfile
import time
import uuid

from tasks.redis_server import RedisServer
from tests.support.audio_files import write_audio
from tests.support.dtmf import dtmf_script, words_text
from tests.support.fake_openai import FakeOpenAI
from tests.support.worker import celery_worker, wait_for

MAX_RATIO = 0.35
WORKER_PROCESSES = 4


def make_recording(folder: Path, hours: float) -> tuple[Path, str]:
    seconds = hours * 3600
    path = folder / f"session-{hours:g}h.mp3"
    words = dtmf_script(seconds, seed=2026)
    if not path.exists():
        print(f"generating a {hours:g}-hour 44.1 kHz stereo MP3 ...", flush=True)
        write_audio(path, words, seconds, sample_rate=44100, channels=2, codec_args=["-b:a", "128k"],
                    noise_db=-60)
    return path, words_text(words)


def run_mode(mode: str, recording: Path, expected_text: str, redis: RedisServer, fake: FakeOpenAI,
             workdir: Path) -> tuple[float, int]:
    """Transcribe `recording` in `mode` on a fresh worker and database; return (wall seconds, chunks)."""
    from app import create_app
    from extensions import db, get_storage
    from models import SessionAudio, Transcription
    from tasks.service import TranscriptionService
    from transcription.audio import probe

    folder = workdir / mode
    folder.mkdir(parents=True)
    env = {
        "APP_ENV": "development",
        "SECRET_KEY": "bench-secret-key-bench-secret-key",
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "CELERY_BROKER_URL": f"{redis.url}/0",
        "CELERY_RESULT_BACKEND": f"{redis.url}/1",
        "UPLOAD_FOLDER": str(folder / "uploads"),
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": fake.base_url,
        "TRANSCRIPTION_PROMPT_MODE": mode,
        "TRANSCRIPTION_CONCURRENCY": "4",
        "PIPELINE_POLL_SECONDS": "0.2",
    }
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "CELERY_BROKER_URL": env["CELERY_BROKER_URL"],
        "CELERY_RESULT_BACKEND": env["CELERY_RESULT_BACKEND"], "UPLOAD_FOLDER": env["UPLOAD_FOLDER"],
        "OPENAI_API_KEY": env["OPENAI_API_KEY"], "OPENAI_BASE_URL": env["OPENAI_BASE_URL"],
        "TRANSCRIPTION_PROMPT_MODE": mode, "TRANSCRIPTION_CONCURRENCY": 4,
    })
    worker = celery_worker(env, folder / "worker.log", concurrency=WORKER_PROCESSES, hostname=f"bench-{mode}@%h")
    worker.start()
    try:
        with app.app_context():
            session_audio = SessionAudio(original_name=recording.name, stored_name=f"{uuid.uuid4().hex}.mp3",
                                         size_bytes=recording.stat().st_size,
                                         duration_ms=probe(recording).duration_ms)
            get_storage().put_file(session_audio.audio_key, recording)
            db.session.add(session_audio)
            db.session.commit()
            started = time.monotonic()
            TranscriptionService().process_session_audio_async(session_audio=session_audio)
            transcription_id = session_audio.latest_transcription.id

            def finished():
                db.session.expire_all()
                transcription = db.session.get(Transcription, transcription_id)
                return transcription if transcription.status in ("finished", "failed") else None

            transcription = wait_for(finished, timeout=1800, interval=0.1, message=f"{mode} transcription")
            wall = time.monotonic() - started
            if transcription.status != "finished" or transcription.text != expected_text:
                raise SystemExit(f"{mode}: the transcript is wrong ({transcription.status}: {transcription.error})")
            return wall, transcription.chunk_count
    finally:
        worker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds the fake API takes per request")
    parser.add_argument("--inputs", type=Path, help="folder to keep the generated recording in between runs")
    args = parser.parse_args()

    inputs = args.inputs or Path(tempfile.mkdtemp(prefix="bench-pipeline-inputs-"))
    inputs.mkdir(parents=True, exist_ok=True)
    recording, expected_text = make_recording(inputs, args.hours)
    fake = FakeOpenAI(delay_seconds=args.delay).start()
    results = {}
    try:
        with RedisServer() as redis, tempfile.TemporaryDirectory(prefix="bench-pipeline-") as workdir:
            for mode in ("sequential", "parallel"):
                run_mode(mode, recording, expected_text, redis, fake, Path(workdir) / "warm-up")
                fake.requests.clear()
                wall, chunks = run_mode(mode, recording, expected_text, redis, fake, Path(workdir) / "timed")
                results[mode] = (wall, chunks, len(fake.requests))
                late = max(request.late_seconds for request in fake.requests)
                print(f"{mode:>10}: {wall:7.1f} s for {chunks} chunks ({len(fake.requests)} API requests; "
                      f"latest answer {late * 1000:.0f} ms past the delay)", flush=True)
    finally:
        fake.stop()

    ratio = results["parallel"][0] / results["sequential"][0]
    print(f"\n{args.hours:g}-hour recording, fake API delay {args.delay:g} s per request, "
          f"{WORKER_PROCESSES} worker processes")
    print(f"parallel / sequential wall time: {ratio:.3f} (target <= {MAX_RATIO})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
