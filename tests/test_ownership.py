"""Recordings are private: another user's recording, transcript, progress, download, retry, cancel
or job is a 404 on every route, found by walking the URL map; admins see everything."""

from __future__ import annotations

import re
import uuid

import pytest

from extensions import db
from models import Transcription, TranscriptionStatus
from security.login import ADMIN_BLUEPRINTS, PUBLIC_ENDPOINTS
from tasks.rq import Queue, redis_connection
from tests.jobs_api import jobs
from tests.support.apps import app_without_workers
from tests.support.recordings import make_transcription, recordings_removed_afterwards
from tests.support.web import csrf_token, transcription_id_from, upload

URL_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


@pytest.fixture()
def owned(app):
    """A finished transcription of user "alice", and a job in a queue nobody consumes."""
    queue = Queue(f"walk-{uuid.uuid4().hex[:8]}", connection=redis_connection(app))
    with recordings_removed_afterwards(app):
        # Requests must not run inside this app context: they would share its `g` and session.
        with app.app_context():
            transcription = make_transcription("alice", text="alice's secret words")
            job = queue.enqueue(jobs.echo, "alice's job")
            chunk = transcription.chunks[0]
            values = {
                "transcription_id": transcription.id,
                "session_audio_id": transcription.session_audio_id,
                "recording_id": transcription.session_audio_id,
                "chunk_id": chunk.id,
                "chunk_index": chunk.index,
                "job_id": job.id,
                "queue_name": queue.name,
                "state": "queued",
                "user_id": transcription.session_audio.owner_id,
            }
        yield values
    queue.delete()


def fill(rule, values: dict) -> str | None:
    """The rule's URL with its arguments taken from `values`, or None if one is unknown."""
    if not set(rule.arguments) <= set(values):
        return None
    return URL_ARGUMENT.sub(lambda match: str(values[match.group(1)]), rule.rule)


def is_admin_only(rule) -> bool:
    return rule.endpoint.split(".")[0] in ADMIN_BLUEPRINTS


def send(client, method: str, url: str):
    data = {"csrf_token": csrf_token(client, "/")} if method == "POST" else None
    return client.open(url, method=method, data=data)


def test_walk_every_route_as_another_user(app, owned):
    alice, bob, admin = app.test_client(user="alice"), app.test_client(user="bob"), app.test_client()
    unfilled, walked = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or not (rule.arguments or is_admin_only(rule)):
            continue
        url = fill(rule, owned)
        if url is None:
            unfilled.append(rule.rule)
            continue
        rightful = admin if is_admin_only(rule) else alice
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = send(bob, method, url)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code} to another user"
            assert "alice" not in response.get_data(as_text=True)
            walked.append((method, url))
            if method == "GET":  # the URL is real: whoever may see it does
                assert send(rightful, method, url).status_code not in (302, 404), f"{method} {url}"
    assert not unfilled, f"routes the walk cannot fill, so it cannot prove them private: {unfilled}"
    endpoints = {url for _, url in walked}
    assert any("/progress" in url for url in endpoints) and any("/jobs/job/" in url for url in endpoints)
    assert len(walked) >= 12, walked

    with app.app_context():
        transcription = db.session.get(Transcription, owned["transcription_id"])
        assert transcription.status == TranscriptionStatus.FINISHED, "another user's POSTs changed nothing"
    from tasks.rq.job import Job

    assert Job.exists(owned["job_id"], redis_connection(app)), "another user could not delete the job"


def test_owner_and_admin_see_the_transcript_others_do_not(app, owned):
    url = f"/transcriptions/{owned['transcription_id']}"
    for user in ("alice", None):  # None: the default admin
        client = app.test_client(user=user) if user else app.test_client()
        page = client.get(url)
        assert page.status_code == 200 and "alice&#39;s secret words" in page.get_data(as_text=True)
        assert client.get(f"{url}/transcript.txt").get_data(as_text=True).strip() == "alice's secret words"
    assert app.test_client(user="bob").get(url).status_code == 404
    assert app.test_client(user="bob").get("/transcriptions/999999").status_code == 404, "same as missing"


def test_a_recording_without_owner_is_for_admins_only(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            url = f"/transcriptions/{make_transcription(None).id}/progress"
        assert app.test_client(user="bob").get(url).status_code == 404
        assert app.test_client().get(url).status_code == 286


def test_jobs_pages_are_for_admins_only(app):
    bob = app.test_client(user="bob")
    for path in ("/jobs/", "/jobs/workers", "/users/"):
        assert bob.get(path).status_code == 404, path
    assert app.test_client().get("/jobs/").status_code == 200


def test_an_upload_belongs_to_whoever_uploaded_it(app, app_with_broker, make_recording):
    path, _ = make_recording(5)
    with app_without_workers(app_with_broker) as offline, recordings_removed_afterwards(app):
        transcription_id = transcription_id_from(upload(offline.test_client(user="carol"), path))
        with app.app_context():
            owner = db.session.get(Transcription, transcription_id).session_audio.owner
            assert owner.username == "carol"
        assert offline.test_client(user="dave").get(f"/transcriptions/{transcription_id}").status_code == 404
        assert offline.test_client(user="carol").get(f"/transcriptions/{transcription_id}").status_code == 200
