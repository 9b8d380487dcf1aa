"""The /jobs page: counts per queue and state, job lists, a job's details, and requeue, cancel
and delete as POST forms with their CSRF token."""

from __future__ import annotations

import re
import uuid

import pytest

from tasks.rq import Queue
from tasks.rq.job import Job, JobStatus
from tests.jobs_api import jobs
from tests.support.web import csrf_token


@pytest.fixture()
def idle_queue(app, connection, idle_queue_name) -> Queue:
    queue = Queue(idle_queue_name, connection=connection)
    yield queue
    queue.delete()


def count_cell(html: str, queue_name: str, state: str) -> int:
    row = re.search(rf"<th scope=\"row\">{queue_name}</th>(.*?)</tr>", html, re.S).group(1)
    return int(re.search(rf'data-state="{state}">(\d+)<', row).group(1))


def test_overview_counts_each_state_per_queue(client, idle_queue):
    for n in range(2):
        idle_queue.enqueue(jobs.add, n, n)
    idle_queue.enqueue(jobs.add, 9, 9).cancel()
    html = client.get("/jobs/").get_data(as_text=True)
    assert count_cell(html, idle_queue.name, "queued") == 2
    assert count_cell(html, idle_queue.name, "canceled") == 1
    assert count_cell(html, idle_queue.name, "failed") == 0


def test_job_lists_and_details(client, idle_queue):
    job = idle_queue.enqueue(jobs.echo, "hello", meta={"progress": 30}, job_id=f"page-{uuid.uuid4().hex[:8]}")
    listing = client.get(f"/jobs/{idle_queue.name}/queued").get_data(as_text=True)
    assert job.id in listing and "tests.jobs_api.jobs.echo(&#39;hello&#39;)" in listing
    assert client.get(f"/jobs/{idle_queue.name}/sideways").status_code == 404

    detail = client.get(f"/jobs/job/{job.id}").get_data(as_text=True)
    assert "tests.jobs_api.jobs.echo" in detail
    assert "&#34;progress&#34;: 30" in detail or '"progress": 30' in detail
    assert "Enqueued" in detail and job.enqueued_at.isoformat() in detail
    assert client.get("/jobs/job/no-such-job").status_code == 404


def test_cancel_and_delete_are_csrf_protected_posts(client, idle_queue, connection):
    job = idle_queue.enqueue(jobs.add, 1, 2)
    page = f"/jobs/job/{job.id}"
    assert client.post(f"{page}/cancel").status_code == 400  # no CSRF token

    response = client.post(f"{page}/cancel", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    assert job.get_status() == JobStatus.CANCELED
    again = client.post(f"{page}/cancel", data={"csrf_token": csrf_token(client, page)}, follow_redirects=True)
    assert "already canceled" in again.get_data(as_text=True)

    token = csrf_token(client, page)
    assert client.post(f"{page}/delete", data={"csrf_token": token}).status_code == 302
    assert not Job.exists(job.id, connection)
    assert client.post(f"{page}/delete", data={"csrf_token": token}).status_code == 404


@pytest.mark.usefixtures("jobs_worker")
def test_failed_job_shows_its_traceback_and_can_be_requeued(client, connection):
    queue = Queue("default", connection=connection)
    job = queue.enqueue(jobs.fail_until, f"calls:{uuid.uuid4()}", 1)
    with pytest.raises(Exception, match="call 1 fails"):
        job.get(timeout=15)
    page = f"/jobs/job/{job.id}"
    detail = client.get(page).get_data(as_text=True)
    assert "RuntimeError: call 1 fails" in detail and "Requeue" in detail

    client.post(f"{page}/requeue", data={"csrf_token": csrf_token(client, page)})
    assert job.get(timeout=15) == 2
    finished = client.get(page).get_data(as_text=True)
    assert 'class="job-result">2<' in finished and "Requeue" not in finished


@pytest.mark.usefixtures("jobs_worker")
def test_workers_panel_lists_the_running_workers(client):
    html = client.get("/jobs/workers").get_data(as_text=True)
    assert "jobs-api@" in html
