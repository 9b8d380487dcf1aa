"""/readyz against real parts: a Redis and a worker of the test's own, then each stopped."""

from __future__ import annotations

import time

import pytest

from tasks.redis_server import RedisServer, free_port
from tests.support.worker import celery_worker


@pytest.fixture()
def own_broker(app_with_broker, test_env, tmp_path):
    """(app, env, redis) on a Redis of the test's own, so the session's worker does not answer pings."""
    with RedisServer() as redis:
        url = f"{redis.url}/0"
        yield app_with_broker(url), {**test_env, "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}, redis


def readyz(app):
    started = time.monotonic()
    response = app.test_client(user=None).get("/readyz")  # no login: probes do not sign in
    return response, time.monotonic() - started


def test_ready_while_a_worker_answers_and_not_ready_once_it_stopped(own_broker, tmp_path):
    app, env, _redis = own_broker
    worker = celery_worker(env, tmp_path / "worker.log", hostname="readyz@%h").start()
    try:
        response, _ = readyz(app)
        assert response.status_code == 200, response.get_json()
        report = response.get_json()
        assert report["status"] == "ready" and report["failed"] == []
        assert any(name.startswith("readyz@") for name in report["checks"]["workers"]["workers"])
        assert report["checks"]["database"]["ok"] and report["checks"]["broker"]["ok"]
    finally:
        worker.stop()

    response, seconds = readyz(app)
    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "not ready" and report["failed"] == ["workers"]
    assert report["checks"]["workers"]["error"] == "no worker answered a ping within 1 s"
    assert report["checks"]["database"]["ok"] and report["checks"]["broker"]["ok"]
    assert seconds < 4


def test_a_stopped_broker_is_reported_without_its_password(app_with_broker):
    port = free_port()  # nothing listens here: a broker that is down
    app = app_with_broker(f"redis://:hunter2-secret@127.0.0.1:{port}/0")
    response, seconds = readyz(app)
    assert response.status_code == 503
    report = response.get_json()
    assert report["failed"] == ["broker", "workers"]
    assert report["checks"]["database"]["ok"]
    assert "refused" in report["checks"]["broker"]["error"].lower() or str(port) in report["checks"]["broker"]["error"]
    assert report["checks"]["workers"]["error"] == "not checked: the broker does not answer"
    assert "hunter2" not in response.get_data(as_text=True)
    assert seconds < 4


def test_a_broker_that_stops_after_start_is_reported(own_broker, tmp_path):
    app, env, redis = own_broker
    worker = celery_worker(env, tmp_path / "worker.log", hostname="readyz@%h").start()
    try:
        assert readyz(app)[0].status_code == 200
        redis.stop()
        response, seconds = readyz(app)
        assert response.status_code == 503
        assert response.get_json()["failed"] == ["broker", "workers"]
        assert seconds < 4
    finally:
        worker.kill()


def test_healthz_and_readyz_need_no_login(anonymous_client):
    assert anonymous_client.get("/healthz").status_code == 200
    assert anonymous_client.get("/readyz").status_code in (200, 503)
    assert anonymous_client.get("/readyz").is_json
