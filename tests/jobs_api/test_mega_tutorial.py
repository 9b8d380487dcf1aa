"""The Flask Mega-Tutorial flow with only the imports changed: a web request enqueues a job by its
dotted name, the job reports progress through get_current_job() and save_meta(), and another
process reads that progress with Job.fetch."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import redis
from flask import current_app, jsonify

from tasks.rq import Queue
from tasks.rq.job import Job
from tests.support.app_config import app_config
from tests.support.worker import REPO_ROOT, wait_for

pytestmark = pytest.mark.usefixtures("jobs_worker")

READ_PROGRESS = """
import json, sys
import redis
from tasks.rq.job import Job
job = Job.fetch(sys.argv[2], connection=redis.Redis.from_url(sys.argv[1]))
print(json.dumps({"status": job.get_status(), "meta": job.meta}))
"""


@pytest.fixture(scope="module")
def tutorial_app(test_env):
    """An app of its own, with the tutorial's route added before its first request."""
    from app import create_app

    app = create_app(app_config(test_env))
    # As in the tutorial's create_app: a Redis client and a queue on the app.
    app.redis = redis.Redis.from_url(app.config["RQ_REDIS_URL"])
    app.task_queue = Queue("default", connection=app.redis)

    @app.get("/export/<gate>")
    def launch_export(gate: str):
        job = current_app.task_queue.enqueue("tests.jobs_api.jobs.report_progress", 5, f"gate:{gate}")
        return jsonify(job_id=job.get_id())

    return app


def progress_seen_by_another_process(url: str, job_id: str) -> dict:
    output = subprocess.run([sys.executable, "-c", READ_PROGRESS, url, job_id], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True, timeout=30).stdout
    return json.loads(output)


def test_enqueue_from_a_request_and_follow_progress_from_another_process(tutorial_app):
    gate = uuid.uuid4().hex
    response = tutorial_app.test_client().get(f"/export/{gate}")
    assert response.status_code == 200
    job_id = response.get_json()["job_id"]
    connection = tutorial_app.redis
    url = tutorial_app.config["RQ_REDIS_URL"]

    wait_for(lambda: Job.fetch(job_id, connection=connection).meta.get("progress") == 100, 15,
             message="the job to report its progress")
    seen = progress_seen_by_another_process(url, job_id)
    assert seen == {"status": "started", "meta": {"progress": 100}}

    connection.set(f"gate:{gate}", 1, ex=60)
    assert Job.fetch(job_id, connection=connection).get(timeout=15) == "done"
    assert progress_seen_by_another_process(url, job_id) == {"status": "finished", "meta": {"progress": 100}}
