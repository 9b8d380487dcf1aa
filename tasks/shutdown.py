"""Warm shutdown that does not wait hours: lanes hand their transcription back.

On SIGTERM the worker's main process stops taking tasks and waits for running
ones, which for a 3-hour recording could be most of the recording. Lanes must
learn of it to stop early:
- when only the main process gets SIGTERM (`kill <pid>`, honcho), it leaves a
  marker file named after its pid, which pool children look for;
- when the whole process group gets it (systemd, `kill -- -<pgid>`), a child's
  first SIGTERM is noted instead of killing it mid-request; a second one kills.
A lane that sees either finishes the chunk in hand (its answer is saved) and
stops, and the pipeline queues itself again for another worker.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

from celery.signals import task_prerun, worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

_sigterm_received = False
_in_pool_child = False


def _marker(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"transcriber-worker-{pid}.shutting-down"


def shutdown_requested() -> bool:
    """True when the worker this code runs in (pool child or solo) is shutting down."""
    return _sigterm_received or _marker(os.getppid()).exists() or _marker(os.getpid()).exists()


def _note_sigterm(signum, _frame) -> None:
    global _sigterm_received
    if _sigterm_received:  # asked twice: stop now, the usual way
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    _sigterm_received = True


@worker_process_init.connect
def _remember_pool_child(**_kwargs) -> None:
    global _in_pool_child
    _in_pool_child = True


@task_prerun.connect
def _graceful_sigterm_in_pool_child(**_kwargs) -> None:
    # Installed per task because billiard resets the child's handlers after
    # worker_process_init; never in a main process, whose SIGTERM is Celery's.
    if _in_pool_child:
        signal.signal(signal.SIGTERM, _note_sigterm)


@worker_shutting_down.connect
def _mark_shutting_down(**_kwargs) -> None:
    _marker(os.getpid()).touch()


@worker_ready.connect
@worker_shutdown.connect
def _clear_marker(**_kwargs) -> None:
    _marker(os.getpid()).unlink(missing_ok=True)
