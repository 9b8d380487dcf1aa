"""Warm shutdown that does not wait hours: lanes hand their transcription back.

On SIGTERM the worker's main process stops taking tasks and waits for running
ones, which for a 3-hour recording could be most of the recording. Pool
children are not told, so the main process leaves a marker file named after its
pid; a lane checks for its parent's marker between chunks, finishes the chunk
in hand (its answer is saved) and stops, and the pipeline queues itself again
for another worker.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from celery.signals import worker_ready, worker_shutdown, worker_shutting_down


def _marker(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"transcriber-worker-{pid}.shutting-down"


def shutdown_requested() -> bool:
    """True when the worker this code runs in (pool child or solo) is shutting down."""
    return _marker(os.getppid()).exists() or _marker(os.getpid()).exists()


@worker_shutting_down.connect
def _mark_shutting_down(**_kwargs) -> None:
    _marker(os.getpid()).touch()


@worker_ready.connect
@worker_shutdown.connect
def _clear_marker(**_kwargs) -> None:
    _marker(os.getpid()).unlink(missing_ok=True)
