"""A trivial task that proves the queue, a worker and the app context work."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from celery import shared_task
from sqlalchemy import text

from extensions import db


@shared_task(name="tasks.health.health_check_task")
def health_check_task() -> dict:
    """Answer with where it ran; touching the database proves the app context."""
    db.session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "hostname": socket.gethostname(),
        "at": datetime.now(UTC).isoformat(),
    }
