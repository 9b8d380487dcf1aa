"""The `@job` decorator: give a function `.delay()` (and `.enqueue()`) that queue a call of it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from .queue import Queue

if TYPE_CHECKING:
    from redis import Redis

    from .callbacks import Callback
    from .job import Job, Retry


class job:  # noqa: N801  (lower case, as RQ spells it)
    """Decorate a function so that `f.delay(*args, **kwargs)` enqueues it on `queue`.

    `delay` takes the function's arguments plus `depends_on`, `job_id` and
    `at_front`; every other job option is fixed by the decorator.
    """

    def __init__(
        self,
        queue: Queue | str,
        connection: Redis | None = None,
        timeout: int | str | None = None,
        result_ttl: int | str | None = None,
        ttl: int | str | None = None,
        depends_on: Any = None,
        at_front: bool = False,
        meta: dict | None = None,
        description: str | None = None,
        failure_ttl: int | str | None = None,
        retry: Retry | None = None,
        on_failure: Callback | Callable | None = None,
        on_success: Callback | Callable | None = None,
        on_stopped: Callback | Callable | None = None,
    ):
        self.queue = queue
        self.connection = connection
        self.options = {
            "timeout": timeout, "result_ttl": result_ttl, "ttl": ttl, "meta": meta, "description": description,
            "failure_ttl": failure_ttl, "retry": retry, "on_failure": on_failure, "on_success": on_success,
            "on_stopped": on_stopped,
        }
        self.depends_on = depends_on
        self.at_front = at_front

    def __call__(self, f: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(f)
        def delay(*args: Any, **kwargs: Any) -> Job:
            queue = self.queue if isinstance(self.queue, Queue) else Queue(self.queue, connection=self.connection)
            depends_on = kwargs.pop("depends_on", None) or self.depends_on
            job_id = kwargs.pop("job_id", None)
            at_front = kwargs.pop("at_front", None)
            return queue.enqueue_call(
                f, args=args, kwargs=kwargs, depends_on=depends_on, job_id=job_id,
                at_front=self.at_front if at_front is None else at_front, **self.options,
            )

        f.delay = delay
        f.enqueue = delay
        return f
