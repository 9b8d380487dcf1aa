"""Progress and results of a transcription: the page, its polled fragment, the transcript and its downloads."""

from __future__ import annotations

import time
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from blueprints.fragments import progress_fragments
from extensions import db
from models import Transcription, TranscriptionStatus
from security.ownership import with_transcription
from tasks.service import BrokerUnavailable, TranscriptionService
from transcription.formats import format_rough_duration, to_docx, to_json, to_srt, to_vtt
from transcription_view import TranscriptionView, timed_transcript

bp = Blueprint("transcriptions", __name__, url_prefix="/transcriptions")
bp.add_app_template_filter(format_rough_duration, "rough_duration")
# The server's clock, for the progress page's ticking clocks (static/js/progress.js).
bp.add_app_template_global(lambda: int(time.time() * 1000), "now_ms")

# htmx stops polling when a response has this status.
HTMX_STOP_POLLING = 286
# More chunks than any recording has (MAX_AUDIO_MINUTES at the shortest chunks); bounds the poll's `shown`.
MAX_CHUNKS = 10_000

DOWNLOAD_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@bp.get("/<int:transcription_id>")
@with_transcription(timed=True)
def show(transcription: TranscriptionView):
    segments = timed_transcript(transcription) if transcription.status == TranscriptionStatus.FINISHED else None
    return render_template("transcription.html", transcription=transcription, transcript=segments)


@bp.get("/<int:transcription_id>/progress")
@with_transcription
def progress(transcription: TranscriptionView):
    """The progress fragment the page polls (one SQL query); 286 once there is nothing more to wait for.
    The last one, of a finished transcription, has the page fetch the timed transcript."""
    status = HTMX_STOP_POLLING if transcription.is_ended else 200
    shown = _chunk_indexes(request.args.get("shown", ""))

    def render() -> str:
        new_texts = [chunk for chunk in transcription.chunks if chunk.text and chunk.index not in shown]
        return render_template("_progress.html", transcription=transcription, polled=True, new_texts=new_texts)

    if transcription.status in (TranscriptionStatus.FAILED, TranscriptionStatus.CANCELED):
        return render(), status  # its Retry form holds this session's CSRF token; polling ends here anyway
    return progress_fragments.get_or_render((transcription.state, shown), render), status


def _chunk_indexes(value: str) -> frozenset[int]:
    """"0,1,4" -> {0, 1, 4}; anything else in it is ignored (the page made it; nobody types it)."""
    parts = value.split(",")[:MAX_CHUNKS]
    return frozenset(int(part) for part in parts if part.isascii() and part.isdigit() and len(part) < 6)


@bp.get("/<int:transcription_id>/transcript")
@with_transcription(timed=True)
def transcript(transcription: TranscriptionView):
    """The timed transcript as an HTML fragment, loaded into the page when the transcription finishes."""
    if transcription.status != TranscriptionStatus.FINISHED:
        abort(404)
    return render_template("_transcript.html", transcription=transcription, transcript=timed_transcript(transcription))


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


def download(transcription: TranscriptionView, fmt: str) -> Response:
    """The finished transcript as a file: plain text, SubRip, WebVTT, JSON or Word."""
    if transcription.status != TranscriptionStatus.FINISHED:
        abort(404)
    segments, info = timed_transcript(transcription)
    if fmt == "txt":
        body: str | bytes = transcription.text + "\n"
    elif fmt == "srt":
        body = to_srt(segments, info.duration_ms)
    elif fmt == "vtt":
        body = to_vtt(segments, info.duration_ms)
    elif fmt == "json":
        body = to_json(segments, transcription.text, info)
    else:
        body = to_docx(segments, info)
    filename = transcription.session_audio.original_name.rsplit(".", 1)[0] + "." + fmt
    return Response(body, content_type=DOWNLOAD_TYPES[fmt], headers={"Content-Disposition": _attachment(filename)})


def _register_download(fmt: str) -> None:
    """/transcriptions/<id>/transcript.<fmt>, endpoint download_<fmt>: each URL ends in its file's
    extension, and has no parameter but the transcription's id."""

    def view(transcription: TranscriptionView) -> Response:
        return download(transcription, fmt)

    view.__name__ = f"download_{fmt}"
    bp.add_url_rule(f"/<int:transcription_id>/transcript.{fmt}", view_func=with_transcription(view, timed=True))


for _fmt in DOWNLOAD_TYPES:
    _register_download(_fmt)


def _attachment(filename: str) -> str:
    """A Content-Disposition value safe for any filename (RFC 6266 with an ASCII fallback)."""
    ascii_name = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._- " else "_" for ch in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
