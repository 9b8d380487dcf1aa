"""Progress and results of a transcription."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from sqlalchemy.orm import joinedload

from extensions import db
from models import Transcription, TranscriptionStatus
from tasks.service import BrokerUnavailable, TranscriptionService

bp = Blueprint("transcriptions", __name__, url_prefix="/transcriptions")

# htmx stops polling when a response has this status.
HTMX_STOP_POLLING = 286


def load_transcription(transcription_id: int) -> Transcription:
    """The transcription with its recording and chunks, in one query; 404 if unknown."""
    transcription = db.session.scalars(
        db.select(Transcription)
        .options(joinedload(Transcription.session_audio), joinedload(Transcription.chunks))
        .where(Transcription.id == transcription_id)
    ).unique().one_or_none()
    if transcription is None:
        abort(404)
    return transcription


@bp.get("/<int:transcription_id>")
def show(transcription_id: int):
    transcription = load_transcription(transcription_id)
    return render_template("transcription.html", transcription=transcription)


@bp.get("/<int:transcription_id>/progress")
def progress(transcription_id: int):
    """The progress fragment the page polls; 286 once there is nothing more to wait for."""
    transcription = load_transcription(transcription_id)
    status = HTMX_STOP_POLLING if transcription.is_ended else 200
    return render_template("_progress.html", transcription=transcription), status


@bp.post("/<int:transcription_id>/retry")
def retry(transcription_id: int):
    """Resume a failed or canceled transcription without sending finished chunks again."""
    transcription = load_transcription(transcription_id)
    if transcription.status not in (TranscriptionStatus.FAILED, TranscriptionStatus.CANCELED):
        flash(f"This transcription is {transcription.status}; only a failed or canceled one can be retried.", "warning")
    else:
        try:
            TranscriptionService().retry(transcription)
            flash("Retrying: finished chunks are kept, the rest are sent again.", "info")
        except BrokerUnavailable:
            flash("The job queue cannot be reached; the transcription will resume when it is back.", "warning")
    return redirect(url_for(".show", transcription_id=transcription_id))


@bp.post("/<int:transcription_id>/cancel")
def cancel(transcription_id: int):
    transcription = load_transcription(transcription_id)
    if TranscriptionService().cancel(transcription):
        flash("Canceled. Chunks already transcribed are kept; Retry resumes from there.", "info")
    else:
        flash(f"This transcription is already {transcription.status}.", "warning")
    return redirect(url_for(".show", transcription_id=transcription_id))


@bp.get("/<int:transcription_id>/transcript.txt")
def download_text(transcription_id: int):
    transcription = load_transcription(transcription_id)
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
