"""Logging for every process (web, worker, beat, CLI): one handler on stdout, and
every line logged while a Celery task runs names the task and its id.

Celery's worker_task_log_format only applies to loggers made with
get_task_logger; our modules log with logging.getLogger(__name__). The filter
here reads Celery's current task instead, so a line from tasks.lanes or
transcription.audio inside a task carries the id too, and `grep <task id>`
finds everything one task did. Celery's own configuration of logging is
replaced by this one (the setup_logging signal), so its lines look the same.
"""

from __future__ import annotations

import logging
import sys

from celery import current_task
from celery.signals import setup_logging

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s%(task)s: %(message)s"


class TaskContextFilter(logging.Filter):
    """Adds `task` to every record: " [<task or job function name> <task id>]" inside a task, "" outside."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = task.request if task else None
        task_id = getattr(request, "id", None)
        # A tasks.rq job runs as the generic run_job task, shadowed with the job's function name.
        name = getattr(request, "shadow", None) or (task.name if task else "")
        record.task = f" [{name} {task_id}]" if task_id else ""
        return True


class _StdoutHandler(logging.StreamHandler):
    """Marks the handler this module installed, so configuring twice adds nothing."""


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send the root logger's records to stdout in our format (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(handler, _StdoutHandler) for handler in root.handlers):
        # The stream is bound now: a Celery worker later redirects sys.stdout into logging itself.
        handler = _StdoutHandler(sys.stdout)
        handler.addFilter(TaskContextFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)


@setup_logging.connect
def _celery_uses_our_logging(loglevel: int | str | None = None, **_kwargs) -> None:
    """`celery worker|beat --loglevel X`: our handler, at the level asked for."""
    configure_logging(loglevel or logging.INFO)
