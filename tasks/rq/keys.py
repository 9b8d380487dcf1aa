"""Where job data lives in Redis: RQ's key layout, in one place for Python and Lua alike.

    rq:job:<id>                hash: the job (func_name, args, kwargs, status, meta, result, ...)
    rq:job:<id>:dependents     set: ids of deferred jobs waiting for this one
    rq:queue:<name>            list: ids of the queued jobs, in order
    rq:queues                  set: the keys of every queue ever used
    rq:wip:<name>              sorted sets, one per registry and queue; the score is
    rq:finished:<name>         when the entry expires (started, finished, failed), when
    rq:failed:<name>           the job is due (scheduled), or when it got there
    rq:deferred:<name>         (deferred, canceled)
    rq:scheduled:<name>
    rq:canceled:<name>
"""

from __future__ import annotations

JOB_PREFIX = "rq:job:"
QUEUE_PREFIX = "rq:queue:"
QUEUES_KEY = "rq:queues"

REGISTRY_PREFIXES = {
    "started": "rq:wip:",
    "finished": "rq:finished:",
    "failed": "rq:failed:",
    "deferred": "rq:deferred:",
    "scheduled": "rq:scheduled:",
    "canceled": "rq:canceled:",
}


def job_key(job_id: str) -> str:
    return JOB_PREFIX + job_id


def dependents_key(job_id: str) -> str:
    return f"{JOB_PREFIX}{job_id}:dependents"


def queue_key(name: str) -> str:
    return QUEUE_PREFIX + name


def registry_key(kind: str, queue_name: str) -> str:
    return REGISTRY_PREFIXES[kind] + queue_name
