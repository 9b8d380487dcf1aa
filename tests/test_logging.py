"""Logs go to stdout, and every line logged inside a task names the task and its id."""

from __future__ import annotations

import re
import subprocess
import sys

from extensions import db
from models import Transcription
from tests.support.web import transcription_id_from, upload, wait_for_status
from tests.support.worker import REPO_ROOT


def test_our_log_lines_inside_tasks_carry_the_task_id(app, client, worker, fake_openai, make_recording):
    path, _ = make_recording(25, seed=41)
    # Only what the worker logs from now on: ids of deleted rows are reused on SQLite.
    logged_before = len(worker.output())
    app.config["CHUNK_SECONDS"] = 10
    try:
        transcription_id = transcription_id_from(upload(client, path))
    finally:
        app.config["CHUNK_SECONDS"] = 600
    assert wait_for_status(app, transcription_id).status == "finished"
    with app.app_context():
        job_id = db.session.get(Transcription, transcription_id).job_id
    lines = worker.output()[logged_before:].splitlines()

    planned = [line for line in lines if f"transcription {transcription_id} planned as" in line]
    assert planned and all(f"[tasks.pipeline.process_session_audio_task {job_id}]" in line for line in planned)
    saved = [line for line in lines if re.search(rf"transcription {transcription_id}: chunk \d+ of \d+ saved", line)]
    assert len(saved) >= 2
    task_line = re.compile(r" \[tasks\.pipeline\.(process_session_audio_task|transcribe_chunks_task) [0-9a-f-]{36}\]: ")
    assert all(task_line.search(line) for line in saved), saved
    # Outside a task there is nothing to name.
    ready = [line for line in worker.output().splitlines() if " ready." in line]
    assert ready and not any("[tasks." in line for line in ready)


def test_logs_go_to_stdout(tmp_path):
    script = ("from app import create_app; import logging; create_app(); "
              "logging.getLogger('transcriber.test').warning('to stdout, please')")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "UPLOAD_FOLDER": str(tmp_path / "uploads"),
           "APP_ENV": "testing", "SECRET_KEY": "test-secret-key", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WARNING MainProcess transcriber.test: to stdout, please" in result.stdout
    assert "to stdout, please" not in result.stderr
