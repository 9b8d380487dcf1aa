"""Progress and results of a transcription."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for

from extensions import db
from models import Transcription, TranscriptionStatus
from security.ownership import with_transcription
from tasks.service import BrokerUnavailable, TranscriptionService
from transcription_view import TranscriptionView

bp = Blueprint("transcriptions", __name__, url_prefix="/transcriptions")

# htmx stops polling when a response has this status.
HTMX_STOP_POLLING = 286


@bp.get("/<int:transcription_id>")
@with_transcription
def show(transcription: TranscriptionView):
    return render_template("transcription.html", transcription=transcription)


@bp.get("/<int:transcription_id>/progress")
@with_transcription
def progress(transcription: TranscriptionView):
    """The progress fragment the page polls (one SQL query); 286 once there is nothing more to wait for."""
    status = HTMX_STOP_POLLING if transcription.is_ended else 200
    return render_template("_progress.html", transcription=transcription), status


@bp.post("/<int:transcription_id>/retry")
@with_transcription
def retry(view: TranscriptionView):
    """Resume a failed or canceled transcription without sending finished chunks again."""
    transcription = db.session.get(Transcription, view.id)
    if transcription.status not in (TranscriptionStatus.FAILED, TranscriptionStatus.CANCELED):
        flash(f"This transcription is {transcription.status}; only a failed or canceled one can be retried.", "warning")
    else:
        try:
            TranscriptionService().retry(transcription)
            flash("Retrying: finished chunks are kept, the rest are sent again.", "info")
        except BrokerUnavailable:
            flash("The job queue cannot be reached; the transcription will resume when it is back.", "warning")
    return redirect(url_for(".show", transcription_id=transcription.id))


@bp.post("/<int:transcription_id>/cancel")
@with_transcription
def cancel(view: TranscriptionView):
    transcription = db.session.get(Transcription, view.id)
    if TranscriptionService().cancel(transcription):
        flash("Canceled. Chunks already transcribed are kept; Retry resumes from there.", "info")
    else:
        flash(f"This transcription is already {transcription.status}.", "warning")
    return redirect(url_for(".show", transcription_id=transcription.id))


@bp.get("/<int:transcription_id>/transcript.txt")
@with_transcription
def download_text(transcription: TranscriptionView):
    if transcription.status != "finished":
        abort(404)
    filename = transcription.session_audio.original_name.rsplit(".", 1)[0] + ".txt"
    return Response(
        transcription.text + "\n",
        mimetype="text/plain",
        headers={"Content-Disposition": _attachment(filename)},
    )


def _attachment(filename: str) -> str:
    """A Content-Disposition value safe for any filename (RFC 6266 with an ASCII fallback)."""
    ascii_name = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._- " else "_" for ch in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
