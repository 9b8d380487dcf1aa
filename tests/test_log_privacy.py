"""Logs never hold transcript text, prompts or keys: a transcription on a real worker, then its log."""

from __future__ import annotations

import re

from celery.result import AsyncResult

from tasks.rq import redis_connection
from tasks.rq.job import Job
from tests.support.dtmf import words_text
from tests.support.recordings import recordings_removed_afterwards
from tests.support.web import transcription_id_from, upload, wait_for_status
from tests.support.worker import wait_for

NOTES = "Attendees: Zebulon Quixote-Marchetti, Ottoline Vasquez-Lindqvist"
PREVIOUS = "and we closed on the marmalade reserve for the Reykjavik annex"


def stored_result(app, job_id: str) -> dict:
    """The pipeline task's return value as Redis keeps it: in its tasks.rq job, else as a Celery result."""
    connection = redis_connection(app)
    if Job.exists(job_id, connection):
        return Job.fetch(job_id, connection=connection).return_value()
    return AsyncResult(job_id, app=app.extensions["celery"]).get(timeout=10)


def test_a_worker_log_has_no_transcript_prompt_or_key(app, client, worker, fake_openai, make_recording,
                                                      monkeypatch, test_env):
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 20)
    path, words = make_recording(45, seed=61)
    log_before = len(worker.output())
    with recordings_removed_afterwards(app):
        transcription_id = transcription_id_from(upload(client, path, notes=NOTES, previous=PREVIOUS))
        transcription = wait_for_status(app, transcription_id, timeout=90)
        assert transcription.status == "finished", transcription.error
        assert transcription.text == words_text(words)
        # The line that would carry the task's return value: Celery logs it as the task returns.
        succeeded = re.compile(rf"process_session_audio_task\[{transcription.job_id}\] succeeded in [\d.]+s: ")
        wait_for(lambda: succeeded.search(worker.output()[log_before:]), 30, message="the pipeline task's result")

        stored = stored_result(app, transcription.job_id)
    assert stored["status"] == "finished" and "text" not in stored, "job data in Redis holds no transcript"

    log = worker.output()[log_before:]
    assert f"transcription {transcription_id} finished" in log
    secrets = {"transcript": transcription.text, "API key": test_env["OPENAI_API_KEY"],
               "notes": "Zebulon", "previous transcript": "marmalade"}
    prompts = [request.prompt for request in fake_openai.requests]
    assert len(prompts) >= 3 and all("Zebulon" in prompt for prompt in prompts), "the prompts held the notes"
    secrets.update({f"prompt {n}": prompt for n, prompt in enumerate(prompts)})
    secrets.update({f"chunk {n} text": request.text for n, request in enumerate(fake_openai.requests)})
    leaked = [name for name, secret in secrets.items() if secret and secret in log]
    assert not leaked, f"the worker log holds: {leaked}"
