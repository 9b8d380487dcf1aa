"""The home page: the upload form (a recording in, a queued transcription out) above the recordings list."""

from __future__ import annotations

import logging
import os
import uuid

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import TextAreaField
from wtforms.validators import Length

from blueprints.recordings import visible_recordings
from extensions import db, get_storage
from models import SessionAudio
from tasks.pipeline import new_transcription
from tasks.planning import max_audio_ms
from tasks.service import BrokerUnavailable, TranscriptionService
from transcription.audio import InvalidAudioError, probe
from transcription.engines import EngineUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("uploads", __name__)

ALLOWED_EXTENSIONS = ("mp3", "m4a", "wav", "webm", "ogg", "flac", "mp4")
NOTES_MAX_CHARS = 20_000
PREVIOUS_TRANSCRIPT_MAX_CHARS = 500_000


def _without_nul(text: str | None) -> str | None:
    """NUL is no text anyone types, and PostgreSQL refuses to store it."""
    return text.replace("\x00", "") if text else text


class UploadForm(FlaskForm):
    audio = FileField("Recording", validators=[
        FileRequired("Choose a recording to upload."),
        FileAllowed(ALLOWED_EXTENSIONS, "Unsupported file type. Upload one of: "
                    + ", ".join(ALLOWED_EXTENSIONS) + "."),
    ])
    session_notes = TextAreaField("Session notes", validators=[Length(max=NOTES_MAX_CHARS)], filters=[
        _without_nul], description=(
        "Names, places and terms that occur in the recording help the transcription spell them right."))
    previous_transcript = TextAreaField("Previous session's transcript", validators=[
        Length(max=PREVIOUS_TRANSCRIPT_MAX_CHARS)], filters=[_without_nul],
        description="Optional: its last words give the first chunk context.")


@bp.route("/", methods=["GET", "POST"])
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        try:
            session_audio = accept_recording(form)
        except (InvalidAudioError, EngineUnavailable) as exc:
            form.audio.errors.append(str(exc))
        else:
            return redirect(url_for("transcriptions.show", transcription_id=_queue(session_audio)))
    return render_home(form), 400 if form.errors else 200


def render_home(form: UploadForm) -> str:
    # Any page number a person may edit into the address is a page; past the last one it is empty.
    page = min(max(1, request.args.get("page", 1, type=int)), 1_000_000)
    recordings, more = visible_recordings(page)
    return render_template("upload.html", form=form, max_upload_mb=current_app.config["MAX_UPLOAD_MB"],
                           allowed_extensions=ALLOWED_EXTENSIONS, recordings=recordings, page=page, more=more)


def accept_recording(form: UploadForm) -> SessionAudio:
    """Probe the uploaded file, move it into storage and record it; nothing is left behind on failure."""
    upload = form.audio.data
    extension = upload.filename.rsplit(".", 1)[-1].lower()
    incoming_path = upload.stream.name
    upload.stream.flush()
    size = os.path.getsize(incoming_path)
    if size == 0:
        raise InvalidAudioError("The file is empty.")
    info = probe(incoming_path, max_duration_ms=max_audio_ms(current_app.config))
    stored_name = f"{uuid.uuid4().hex}.{extension}"
    session_audio = SessionAudio(
        original_name=_display_name(upload.filename),
        stored_name=stored_name,
        content_type=_without_nul(upload.mimetype or "")[:100],
        size_bytes=size,
        duration_ms=info.duration_ms,
        session_notes=form.session_notes.data or "",
        previous_transcript=form.previous_transcript.data or "",
        owner_id=current_user.id,
    )
    storage = get_storage()
    storage.put_file(session_audio.audio_key, incoming_path, move=True)
    try:
        db.session.add(session_audio)
        new_transcription(session_audio, current_app.config)
        db.session.commit()
    except Exception:
        db.session.rollback()
        storage.delete(session_audio.audio_key)
        raise
    return session_audio


def _queue(session_audio: SessionAudio) -> int:
    transcription = session_audio.latest_transcription
    try:
        TranscriptionService().enqueue(transcription)
    except BrokerUnavailable:
        log.warning("broker unreachable; transcription %s stays queued until recovery picks it up", transcription.id)
        flash("The job queue cannot be reached right now. Your recording is saved and will be "
              "transcribed as soon as a worker is available.", "warning")
    return transcription.id


def _display_name(filename: str) -> str:
    """The user's filename, for display only: printable, at most 255 characters."""
    cleaned = "".join(ch for ch in filename if ch.isprintable()).strip()
    return (cleaned or "recording")[-255:]


def too_large(error: RequestEntityTooLarge):
    """A friendly 413: the form again, saying what the limit is."""
    form = UploadForm(formdata=None)
    limit = current_app.config["MAX_UPLOAD_MB"]
    form.audio.errors = [f"The file is larger than the {limit} MB limit. Split the recording or compress it "
                         "(for example to MP3 or M4A) and upload it again."]
    return render_home(form), 413
