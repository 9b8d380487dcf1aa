"""The upload form: good recordings are queued; every bad one gets a clear message and leaves nothing behind."""

import io

import pytest

from extensions import db
from models import SessionAudio, Transcription
from tests.support.web import csrf_token, transcription_id_from, upload, wait_for_status


def stored_files(app) -> list:
    root = app.extensions["storage"].root
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def nothing_left_behind(app):
    """Asserts that the test adds no recording, transcription or file."""
    with app.app_context():
        before = (db.session.query(SessionAudio).count(), db.session.query(Transcription).count())
    files_before = stored_files(app)
    yield
    with app.app_context():
        after = (db.session.query(SessionAudio).count(), db.session.query(Transcription).count())
    assert after == before, "a rejected upload left rows behind"
    assert stored_files(app) == files_before, "a rejected upload left files behind"


def test_upload_page_has_the_form(client):
    html = client.get("/").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert 'name="session_notes"' in html and 'name="previous_transcript"' in html


def test_post_without_csrf_token_is_refused(client, make_recording, nothing_left_behind):
    path, _ = make_recording(5)
    response = client.post("/", data={"audio": (open(path, "rb"), "a.mp3")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)


def test_no_file_chosen(client, nothing_left_behind):
    response = upload(client, None)
    assert response.status_code == 400
    assert "Choose a recording to upload." in response.get_data(as_text=True)


def test_empty_file(client, nothing_left_behind):
    response = upload(client, None, data=b"", filename="empty.mp3")
    assert response.status_code == 400
    assert "The file is empty." in response.get_data(as_text=True)


def test_text_file_renamed_mp3(client, nothing_left_behind):
    response = upload(client, None, data=b"Minutes of the meeting\n" * 200, filename="notes.mp3")
    assert response.status_code == 400
    assert "not audio we can read" in response.get_data(as_text=True)


def test_unsupported_type(client, nothing_left_behind):
    response = upload(client, None, data=b"MZ\x90\x00" * 100, filename="setup.exe")
    assert response.status_code == 400
    assert "Unsupported file type" in response.get_data(as_text=True)


def test_over_the_size_limit_is_a_friendly_413(app, client, nothing_left_behind, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 0)
    token = csrf_token(client)
    big = b"\x00" * (200 * 1024)
    response = client.post("/", data={"csrf_token": token, "audio": (io.BytesIO(big), "long.wav")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "larger than the" in response.get_data(as_text=True)
    assert "<form" in response.get_data(as_text=True), "the form is shown again"


def test_openai_engine_without_an_api_key_says_how_to_set_it(app, client, make_recording, monkeypatch,
                                                            nothing_left_behind):
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "")
    monkeypatch.setitem(app.config, "TRANSCRIPTION_ENGINE", "openai")
    path, _ = make_recording(5)
    response = upload(client, path)
    assert response.status_code == 400
    assert "OPENAI_API_KEY" in response.get_data(as_text=True)


def test_an_unknown_engine_setting_is_named(app, client, make_recording, monkeypatch, nothing_left_behind):
    monkeypatch.setitem(app.config, "TRANSCRIPTION_ENGINE", "whisper.cpp")
    path, _ = make_recording(5)
    response = upload(client, path)
    assert response.status_code == 400
    assert "TRANSCRIPTION_ENGINE must be one of auto, openai, offline" in response.get_data(as_text=True)


@pytest.mark.parametrize(("setting", "api_key", "engine", "model"), [
    ("auto", "", "pocketsphinx", "en-us"),
    ("auto", "sk-test", "openai", "whisper-1"),
    ("offline", "sk-test", "pocketsphinx", "en-us"),
    ("openai", "sk-test", "openai", "whisper-1"),
])
def test_the_engine_is_chosen_and_recorded_at_upload(app, client, make_recording, monkeypatch, setting, api_key,
                                                     engine, model):
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", api_key)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_ENGINE", setting)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_MODEL", "whisper-1")
    # No worker: the transcription stays queued, which is all this test looks at.
    monkeypatch.setattr("tasks.service.TranscriptionService.enqueue", lambda self, transcription: None)
    path, _ = make_recording(5)
    transcription_id = transcription_id_from(upload(client, path))
    with app.app_context():
        transcription = db.session.get(Transcription, transcription_id)
        assert (transcription.engine, transcription.model) == (engine, model)
    page = client.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
    assert f"engine <strong>{engine}</strong>, model <strong>{model}</strong>" in page


def test_a_good_recording_is_stored_under_a_server_name_and_queued(app, client, make_recording, worker,
                                                                  fake_openai):
    path, _ = make_recording(5)
    response = upload(client, path, filename="../../etc/passwd.mp3", notes="Alice and Bob")
    assert response.status_code == 302
    with app.app_context():
        session_audio = db.session.scalars(db.select(SessionAudio).order_by(SessionAudio.id.desc())).first()
        assert session_audio.original_name == "../../etc/passwd.mp3"  # shown, never used as a path
        assert "/" not in session_audio.stored_name and ".." not in session_audio.stored_name
        assert app.extensions["storage"].exists(session_audio.audio_key)
        assert 4500 < session_audio.duration_ms < 5500
        assert session_audio.session_notes == "Alice and Bob"
        transcription = session_audio.latest_transcription
        assert response.headers["Location"].endswith(f"/transcriptions/{transcription.id}")
    assert not list((app.extensions["storage"].root / ".incoming").iterdir()), "no partial upload is left"
    assert wait_for_status(app, transcription.id).status == "finished"
