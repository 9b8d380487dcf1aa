"""Driving the app like a browser: forms with their CSRF token, waiting on progress."""

from __future__ import annotations

import io
import re
from pathlib import Path

from extensions import db
from models import Transcription
from tests.support.worker import wait_for

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                        r'type="hidden" name="csrf_token" value="([^"]+)"|'
                        r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, url: str = "/") -> str:
    """The CSRF token of the form at `url`, as a browser would see it."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_INPUT.search(html)
    assert match, f"no CSRF token in the page at {url}"
    return next(group for group in match.groups() if group)


def upload(client, path: str | Path | None, *, filename: str | None = None, data: bytes | None = None,
           notes: str = "", previous: str = "", content_type: str = "audio/mpeg"):
    """POST the upload form like a browser (CSRF token included)."""
    form = {"csrf_token": csrf_token(client), "session_notes": notes, "previous_transcript": previous}
    if path is not None or data is not None:
        content = data if data is not None else Path(path).read_bytes()
        form["audio"] = (io.BytesIO(content), filename or Path(path).name, content_type)
    return client.post("/", data=form, content_type="multipart/form-data")


def transcription_id_from(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.search(r"/transcriptions/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def wait_for_status(app, transcription_id: int, statuses=("finished", "failed", "canceled"),
                    timeout: float = 120.0) -> Transcription:
    """Wait until the transcription reaches one of `statuses`; return it fresh from the database."""

    def reached():
        with app.app_context():
            transcription = db.session.get(Transcription, transcription_id)
            if transcription is not None and transcription.status in statuses:
                db.session.expunge(transcription)
                return transcription
            return None

    return wait_for(reached, timeout, interval=0.2, message=f"transcription {transcription_id} in {statuses}")
