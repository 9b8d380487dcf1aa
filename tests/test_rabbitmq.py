"""RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...) with a Redis result backend: a recording
goes through it end to end, on a virtual host of the test's own so no leftover message interferes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid

import pytest

from tasks.redis_server import RedisServer
from tests.support.databases import own_app
from tests.support.dtmf import words_text
from tests.support.web import transcription_id_from, upload, wait_for_status
from tests.support.worker import celery_worker

RABBITMQ = ("127.0.0.1", 5672)


def rabbitmq_answers() -> bool:
    try:
        with socket.create_connection(RABBITMQ, timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not (rabbitmq_answers() and shutil.which("rabbitmqctl")),
                                reason="no RabbitMQ (with rabbitmqctl) on 127.0.0.1:5672")


@pytest.fixture()
def vhost():
    name = f"transcriber-test-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)
        yield name
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60)


def test_a_recording_completes_through_rabbitmq(app, test_env, vhost, tmp_path, fake_openai, make_recording):
    broker_url = f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}/{vhost}"
    with RedisServer() as redis:
        settings = {"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": f"{redis.url}/1"}
        with own_app(app, tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], **settings,
                     UPLOAD_FOLDER=test_env["UPLOAD_FOLDER"], CHUNK_SECONDS=10, TRANSCRIPTION_CONCURRENCY=3,
                     OPENAI_API_KEY=test_env["OPENAI_API_KEY"], OPENAI_BASE_URL=test_env["OPENAI_BASE_URL"]) as web:
            worker = celery_worker({**test_env, **settings}, tmp_path / "worker.log", hostname="rabbit@%h")
            try:
                worker.start()
                assert f"amqp://guest:**@127.0.0.1:5672/{vhost}" in worker.output(), "the worker uses RabbitMQ"
                path, words = make_recording(30, seed=61)
                transcription_id = transcription_id_from(upload(web.test_client(), path))
                transcription = wait_for_status(web, transcription_id, timeout=90)
                assert transcription.status == "finished", transcription.error
                assert transcription.text == words_text(words)
                assert transcription.chunk_count >= 3

                ready = web.test_client(user=None).get("/readyz")
                assert ready.status_code == 200, ready.get_json()
                assert any(name.startswith("rabbit@") for name in ready.get_json()["checks"]["workers"]["workers"])
                assert "guest:guest" not in ready.get_data(as_text=True)
            finally:
                worker.stop()
