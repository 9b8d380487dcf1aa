"""Crashes, restarts and limits in the middle of a recording: the work finishes and nothing paid for is lost.

Each test runs its own Redis, worker and beat processes (the session's worker
would otherwise take the tasks), on the session's database and fake API.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

from extensions import db
from models import ChunkStatus, Transcription
from tasks.redis_server import RedisServer
from tests.support.dtmf import words_text
from tests.support.web import csrf_token, transcription_id_from, upload, wait_for_status
from tests.support.worker import CeleryProcess, celery_beat, celery_worker, wait_for


@dataclass
class Stack:
    app: object
    env: dict
    redis: RedisServer
    runtime_dir: object
    processes: list

    def worker(self, name: str, concurrency: int = 3, **env) -> CeleryProcess:
        process = celery_worker({**self.env, **env}, self.runtime_dir / f"{name}.log", concurrency=concurrency,
                                hostname=f"{name}@%h")
        self.processes.append(process)
        return process.start()

    def beat(self) -> CeleryProcess:
        process = celery_beat(self.env, self.runtime_dir / "beat.log", self.runtime_dir / "beat-schedule")
        self.processes.append(process)
        return process.start()

    def upload(self, path) -> int:
        return transcription_id_from(upload(self.app.test_client(), path))

    def chunks(self, transcription_id: int) -> list:
        with self.app.app_context():
            transcription = db.session.get(Transcription, transcription_id)
            return [(c.index, c.status, c.text) for c in transcription.chunks]

    def done_chunk_count(self, transcription_id: int) -> int:
        return sum(1 for _, status, _ in self.chunks(transcription_id) if status == ChunkStatus.DONE)


@pytest.fixture()
def stack(app_with_broker, test_env, tmp_path, fake_openai):
    with RedisServer() as redis:
        env = {**test_env, "CELERY_BROKER_URL": f"{redis.url}/0", "CELERY_RESULT_BACKEND": f"{redis.url}/1"}
        own_app = app_with_broker(env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"])
        own_app.config.update(CHUNK_SECONDS=10, TRANSCRIPTION_CONCURRENCY=3)
        stack = Stack(own_app, env, redis, tmp_path, [])
        yield stack
        for process in stack.processes:
            process.kill()


def answered_texts(fake) -> Counter:
    """How many times the API answered (and billed) each distinct chunk audio."""
    return Counter(request.sha256 for request in fake.answered())


def test_sigkill_mid_recording_finishes_without_re_requesting_finished_chunks(stack, fake_openai, make_recording):
    path, words = make_recording(75, seed=21)
    first = stack.worker("first")
    stack.beat()
    undisturbed_id = stack.upload(path)
    undisturbed = wait_for_status(stack.app, undisturbed_id, timeout=60)
    assert undisturbed.status == "finished" and undisturbed.text == words_text(words)
    sha_by_text = {request.text: request.sha256 for request in fake_openai.answered()}
    assert len(sha_by_text) == undisturbed.chunk_count >= 7

    fake_openai.reset()
    fake_openai.delay_seconds = 0.6
    disturbed_id = stack.upload(path)
    wait_for(lambda: stack.done_chunk_count(disturbed_id) >= 3, 60, message="three chunks done")
    first.kill()  # SIGKILL, main process and pool children alike
    done_before_kill = [text for _, status, text in stack.chunks(disturbed_id) if status == ChunkStatus.DONE]
    in_flight = sum(1 for _, status, _ in stack.chunks(disturbed_id) if status == ChunkStatus.RUNNING)

    stack.worker("restarted")
    disturbed = wait_for_status(stack.app, disturbed_id, timeout=60)
    assert disturbed.status == "finished", disturbed.error
    assert disturbed.text == undisturbed.text, "the same transcript as the undisturbed run"
    billed = answered_texts(fake_openai)
    for text in done_before_kill:
        assert billed[sha_by_text[text]] == 1, "a chunk finished before the kill was requested again"
    assert sum(billed.values()) <= undisturbed.chunk_count + in_flight
    assert all(count <= 2 for count in billed.values())


def test_redis_restart_mid_recording_finishes_with_nothing_duplicated(stack, fake_openai, make_recording):
    path, words = make_recording(75, seed=22)
    stack.worker("worker")
    stack.beat()
    fake_openai.delay_seconds = 0.5
    transcription_id = stack.upload(path)
    wait_for(lambda: stack.done_chunk_count(transcription_id) >= 2, 60, message="two chunks done")
    stack.redis.restart()  # no persistence: every queued message and job record is gone

    transcription = wait_for_status(stack.app, transcription_id, timeout=90)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)
    billed = answered_texts(fake_openai)
    assert len(billed) == transcription.chunk_count
    assert set(billed.values()) == {1}, "no chunk was paid for twice"


def test_soft_time_limit_fails_plainly_and_retry_resumes(stack, fake_openai, make_recording):
    path, words = make_recording(75, seed=23)
    stack.app.config["TRANSCRIPTION_PROMPT_MODE"] = "sequential"
    # The pipeline job leaves its time limits to the worker's settings (job_timeout=-1).
    stack.worker("limited", CELERY_TASK_SOFT_TIME_LIMIT="3", CELERY_TASK_TIME_LIMIT="30")
    fake_openai.delay_seconds = 1.0
    transcription_id = stack.upload(path)

    failed = wait_for_status(stack.app, transcription_id, timeout=60)
    assert failed.status == "failed"
    assert "time limit of 3 seconds" in failed.error and "press Retry" in failed.error
    kept = [text for _, status, text in stack.chunks(transcription_id) if status == ChunkStatus.DONE]
    assert 1 <= len(kept) < failed.chunk_count, "finished chunks are kept"
    billed_before = answered_texts(fake_openai)

    fake_openai.delay_seconds = 0.0
    client = stack.app.test_client()
    response = client.post(f"/transcriptions/{transcription_id}/retry",
                           data={"csrf_token": csrf_token(client, f"/transcriptions/{transcription_id}")})
    assert response.status_code == 302
    finished = wait_for_status(stack.app, transcription_id, timeout=60)
    assert finished.status == "finished", finished.error
    assert finished.text == words_text(words)
    billed_after = answered_texts(fake_openai)
    kept_shas = {r.sha256 for r in fake_openai.answered() if r.text in kept}
    for sha in kept_shas:
        assert billed_after[sha] == billed_before[sha] == 1, "a kept chunk was requested again"


def test_warm_shutdown_hands_the_recording_over_without_losing_work(stack, fake_openai, make_recording):
    path, words = make_recording(75, seed=24)
    first = stack.worker("first", concurrency=3)
    fake_openai.delay_seconds = 1.0
    transcription_id = stack.upload(path)
    wait_for(lambda: stack.done_chunk_count(transcription_id) >= 2, 60, message="two chunks done")

    started = time.monotonic()
    first.stop(timeout=30)  # SIGTERM: warm shutdown
    shutdown_seconds = time.monotonic() - started
    with stack.app.app_context():
        handed_over = db.session.get(Transcription, transcription_id)
        assert handed_over.status == "queued", "handed back to the queue, not finished by a lingering worker"
        done_at_shutdown = handed_over.chunks_done
    assert done_at_shutdown < handed_over.chunk_count
    # Each lane finished the chunk in hand (about 1 s of API time) and stopped.
    assert shutdown_seconds < 8, f"warm shutdown took {shutdown_seconds:.1f} s"

    stack.worker("second")
    finished = wait_for_status(stack.app, transcription_id, timeout=60)
    assert finished.status == "finished", finished.error
    assert finished.text == words_text(words)
    billed = answered_texts(fake_openai)
    assert len(billed) == finished.chunk_count and set(billed.values()) == {1}, "no work lost, none paid twice"
