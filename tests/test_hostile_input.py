"""Hostile uploads: recordings that decode to days, lying headers, filenames that are paths, NULs,
very long or not UTF-8, wrong content types, truncated and corrupt audio. Each gets a clear message
and leaves nothing behind, or is stored safely; audio that breaks mid-decode fails its transcription
with the reason."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from extensions import db
from models import SessionAudio, Transcription
from tests.support.apps import app_without_workers
from tests.support.hostile_audio import corrupted, flac_bomb, mp3_claiming, truncated
from tests.support.recordings import recordings_removed_afterwards
from tests.support.web import csrf_token, transcription_id_from, upload, wait_for_status
from tests.test_upload import nothing_left_behind  # noqa: F401  (fixture)
from transcription.audio import InvalidAudioError, ffmpeg_binary, prepare, probe


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    ten = folder / "ten.mp3"
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=10:sample_rate=44100", "-c:a", "libmp3lame", "-b:a", "64k",
                    str(ten)], check=True)
    return {"bomb": flac_bomb(folder / "bomb.flac", hours=100),
            "liar": mp3_claiming(ten, folder / "liar.mp3", hours=100)}


@pytest.fixture()
def offline_client(app_with_broker, app):
    """A signed-in client of an app whose uploads are queued where no worker takes them; every
    recording made is deleted afterwards."""
    with app_without_workers(app_with_broker) as idle, recordings_removed_afterwards(app):
        yield idle.test_client()


def test_a_tiny_file_that_decodes_to_100_hours_is_refused_quickly(client, hostile, nothing_left_behind):  # noqa: F811
    assert hostile["bomb"].stat().st_size < 1_000_000
    started = time.monotonic()
    response = upload(client, hostile["bomb"], content_type="audio/flac")
    assert response.status_code == 400
    assert "The recording is longer than 4:00:00, the longest this server accepts." in response.get_data(as_text=True)
    assert time.monotonic() - started < 30, "decoding stops at the limit, not after 100 hours"


def test_a_header_that_states_100_hours_is_refused_at_once(client, hostile, nothing_left_behind):  # noqa: F811
    started = time.monotonic()
    response = upload(client, hostile["liar"])
    assert response.status_code == 400
    assert "(it lasts 99:59:59)" in response.get_data(as_text=True)
    assert time.monotonic() - started < 5


def test_max_audio_minutes_is_a_setting(app, client, make_recording, monkeypatch, nothing_left_behind):  # noqa: F811
    monkeypatch.setitem(app.config, "MAX_AUDIO_MINUTES", 1)
    path, _ = make_recording(75, seed=41)
    response = upload(client, path)
    assert response.status_code == 400 and "longer than 1:00" in response.get_data(as_text=True)


def test_the_worker_never_decodes_past_the_limit(hostile, tmp_path):
    started = time.monotonic()
    with pytest.raises(InvalidAudioError, match="longer than 5:00"):
        prepare(hostile["bomb"], tmp_path, max_duration_ms=5 * 60_000)
    assert time.monotonic() - started < 10
    assert (tmp_path / "audio.wav").stat().st_size < 6 * 60 * 16000 * 2, "the working copy stops at the limit"
    with pytest.raises(InvalidAudioError, match="longer than 4:00:00"):
        probe(hostile["liar"], max_duration_ms=240 * 60_000)


def multipart(fields: dict[str, str], filename: bytes, content: bytes, content_type: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body written by hand, so the filename can be any bytes at all."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f"--{boundary}\r\n".encode() + b'Content-Disposition: form-data; name="audio"; filename="'
                 + filename + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("filename, shown", [
    (b"../../../etc/passwd.mp3", "../../../etc/passwd.mp3"),
    (b"/abs/path\\win\\name.mp3", None),  # a backslash escapes in a multipart header
    (b"nul\x00byte.mp3", "nulbyte.mp3"),
    (b"x" * 5000 + b".mp3", "x" * 251 + ".mp3"),
    (b"<script>alert(1)</script>.mp3", "<script>alert(1)</script>.mp3"),
])
def test_any_filename_is_only_ever_displayed(app, offline_client, make_recording, filename, shown):
    path, _ = make_recording(5, seed=42)
    body, content_type = multipart({"csrf_token": csrf_token(offline_client)}, filename, path.read_bytes(),
                                   b"audio/mpeg")
    response = offline_client.post("/", data=body, content_type=content_type)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    transcription_id = transcription_id_from(response)
    with app.app_context():
        recording = db.session.get(Transcription, transcription_id).session_audio
        assert re.fullmatch(r"[0-9a-f]{32}\.mp3", recording.stored_name), "stored under a name of ours"
        assert len(recording.original_name) <= 255 and "\x00" not in recording.original_name
        if shown is not None:
            assert recording.original_name == shown
        stored = app.extensions["storage"].local_path(recording.audio_key)
        assert stored.parent == app.extensions["storage"].root / "audio"
    page = offline_client.get(f"/transcriptions/{transcription_id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.get_data(as_text=True), "escaped when shown"


def test_a_filename_that_is_not_utf8_gets_a_clear_message(client, make_recording, nothing_left_behind):  # noqa: F811
    path, _ = make_recording(5, seed=42)
    body, content_type = multipart({"csrf_token": csrf_token(client)}, b"\xff\xfe caf\xe9 \x80.mp3",
                                   path.read_bytes(), b"audio/mpeg")
    response = client.post("/", data=body, content_type=content_type)
    assert response.status_code == 400
    assert "name is not valid text (UTF-8)" in response.get_data(as_text=True)


def test_a_form_part_without_a_name_is_ignored(client, make_recording, nothing_left_behind):  # noqa: F811
    """Found by test_upload_properties: such a part used to crash the CSRF check (a 500)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; filename="x.mp3"\r\n\r\nID3\r\n'
            f"--{boundary}--\r\n").encode()
    response = client.post("/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400, "refused with a page, not a 500"


def test_the_content_type_a_client_claims_is_not_trusted(app, offline_client, make_recording):
    path, _ = make_recording(5, seed=43)
    text = b"Minutes of the meeting\n" * 300
    fake = upload(offline_client, None, data=text, filename="notes.mp3", content_type="audio/mpeg")
    assert fake.status_code == 400 and "not audio we can read" in fake.get_data(as_text=True)
    real = upload(offline_client, path, content_type="text/html\x00; charset=evil")
    assert real.status_code == 302, "real audio is accepted whatever the client calls it"
    with app.app_context():
        recording = db.session.get(Transcription, transcription_id_from(real)).session_audio
        assert "\x00" not in recording.content_type and len(recording.content_type) <= 100


@pytest.mark.parametrize("damage", ["truncated-at-start", "garbage"])
def test_broken_audio_is_refused_with_a_message(client, make_recording, tmp_path, damage,
                                                 nothing_left_behind):  # noqa: F811
    path, _ = make_recording(30, seed=44, ext=".wav")
    if damage == "truncated-at-start":
        broken = tmp_path / "head.wav"
        broken.write_bytes(path.read_bytes()[:30])  # the header and nothing else
        expected = ("could not be decoded", "not audio we can read", "recording is empty")
    else:
        broken = tmp_path / "noise.mp3"
        broken.write_bytes(bytes((i * 7919) % 256 for i in range(200_000)))
        expected = ("not audio we can read", "contains no audio track")
    response = upload(client, broken, filename=broken.name)
    assert response.status_code == 400
    assert any(message in response.get_data(as_text=True) for message in expected), response.get_data(as_text=True)


@pytest.mark.parametrize("damage", [truncated, corrupted])
def test_audio_that_passes_the_probe_but_breaks_mid_decode_fails_with_the_reason(
        app, client, worker, fake_openai, make_recording, tmp_path, monkeypatch, damage):
    """The probe reads the first seconds and the stated length; the worker finds the break."""
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 20)
    path, _ = make_recording(60, seed=45)
    broken = damage(Path(path), tmp_path / f"{damage.__name__}.mp3")
    assert probe(broken).duration_ms > 55_000, "the probe accepts it"
    with recordings_removed_afterwards(app):
        transcription_id = transcription_id_from(upload(client, broken))
        transcription = wait_for_status(app, transcription_id, timeout=90)
        assert transcription.status == "failed"
        assert "could not be decoded past" in transcription.error or "truncated or corrupt" in transcription.error, \
            transcription.error
        page = client.get(f"/transcriptions/{transcription_id}/progress")
        assert page.status_code == 286 and "truncated or corrupt" in page.get_data(as_text=True)
        with app.app_context():
            assert db.session.scalars(select(SessionAudio).where(
                SessionAudio.id == db.session.get(Transcription, transcription_id).session_audio_id)).one()
