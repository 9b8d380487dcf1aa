"""/jobs: the job queues at a glance, in the spirit of rq-dashboard.

Per queue the counts of queued, started, scheduled, deferred, finished, failed
and canceled jobs; the jobs of each; one job's details with requeue, cancel and
delete buttons; and the workers Celery knows of.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from tasks.rq import Queue, redis_connection
from tasks.rq.exceptions import InvalidJobOperation, NoSuchJobError
from tasks.rq.job import Job, JobStatus
from tasks.rq.keys import registry_key

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

STATES = ("queued", "started", "scheduled", "deferred", "finished", "failed", "canceled")
PAGE_SIZE = 50
# inspect() waits this long for answers; the workers panel loads on its own so the page never does.
INSPECT_TIMEOUT = 0.5


def queue_counts(connection, queues: list[Queue]) -> dict[str, dict[str, int]]:
    """Every queue's count per state, in one round trip."""
    now = time.time()
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            for state in STATES[1:]:
                key = registry_key(state, queue.name)
                if state in ("finished", "failed"):
                    pipe.zcount(key, f"({now}", "+inf")  # entries whose ttl has passed do not count
                else:
                    pipe.zcard(key)
        answers = iter(pipe.execute())
    return {queue.name: {state: next(answers) for state in STATES} for queue in queues}


def job_ids_in(queue: Queue, state: str, offset: int) -> list[str]:
    if state == "queued":
        return queue.get_job_ids(offset, PAGE_SIZE)
    registry = getattr(queue, f"{state}_job_registry")
    # Ended jobs newest first, the others in the order they will move on. No
    # cleanup here: reading a page never runs anyone's callbacks.
    desc = state in ("finished", "failed", "canceled")
    return registry.get_job_ids(offset, offset + PAGE_SIZE - 1, desc=desc, cleanup=False)


def fetch_job_or_404(job_id: str) -> Job:
    try:
        return Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        abort(404)


@bp.get("/")
def index():
    connection = redis_connection()
    queues = Queue.all(connection)
    return render_template("jobs/index.html", queues=queues, counts=queue_counts(connection, queues),
                           states=STATES)


@bp.get("/workers")
def workers():
    """The workers answering Celery's remote control (an HTML fragment)."""
    celery_app = current_app.extensions["celery"]
    stats = celery_app.control.inspect(timeout=INSPECT_TIMEOUT).stats() or {}
    return render_template("jobs/_workers.html", workers=sorted(stats.items()))


@bp.get("/<queue_name>/<state>")
def job_list(queue_name: str, state: str):
    if state not in STATES:
        abort(404)
    connection = redis_connection()
    queue = Queue(queue_name, connection=connection)
    offset = max(request.args.get("offset", 0, type=int), 0)
    job_ids = job_ids_in(queue, state, offset)
    jobs = [job for job in Job.fetch_many(job_ids, connection) if job is not None]
    total = queue_counts(connection, [queue])[queue_name][state]
    return render_template("jobs/list.html", queue=queue, state=state, jobs=jobs, offset=offset,
                           page_size=PAGE_SIZE, total=total, states=STATES)


@bp.get("/job/<job_id>")
def job_detail(job_id: str):
    job = fetch_job_or_404(job_id)
    return render_template("jobs/job.html", job=job, pretty=_pretty, JobStatus=JobStatus)


@bp.post("/job/<job_id>/requeue")
def requeue(job_id: str):
    return _act_on_job(job_id, Job.requeue, "queued again")


@bp.post("/job/<job_id>/cancel")
def cancel(job_id: str):
    return _act_on_job(job_id, Job.cancel, "canceled")


def _act_on_job(job_id: str, action, done: str):
    """Apply `action` to the job and say how it went (RQ refuses some, e.g. requeue of a finished job)."""
    job = fetch_job_or_404(job_id)
    try:
        action(job)
        flash(f"Job {job_id} {done}.")
    except InvalidJobOperation as exc:
        flash(str(exc), "error")
    return redirect(url_for("jobs.job_detail", job_id=job_id))


@bp.post("/job/<job_id>/delete")
def delete(job_id: str):
    job = fetch_job_or_404(job_id)
    job.delete()
    flash(f"Job {job_id} deleted.")
    return redirect(url_for("jobs.index"))


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
