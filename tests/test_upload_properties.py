"""Property: whatever a client posts to the upload form, the answer is never a 500, and nothing is
left half-done: a refused upload adds no row and no file, an accepted one adds exactly its rows and
its file (deleted again here, through tasks.recordings.delete_recording)."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from blueprints.uploads import ALLOWED_EXTENSIONS, NOTES_MAX_CHARS
from extensions import db
from models import SessionAudio, TranscriptChunk, Transcription
from tasks.recordings import delete_recording
from tests.support.apps import app_without_workers
from tests.support.web import csrf_token

EXAMPLES = int(os.environ.get("UPLOAD_PROPERTY_EXAMPLES", "300"))
AUDIO_MAGIC = [b"", b"ID3\x04\x00\x00\x00\x00\x00\x00", b"\xff\xfb\x90\x00", b"RIFF\x24\x00\x00\x00WAVEfmt ",
               b"fLaC\x00\x00\x00\x22", b"OggS\x00\x02", b"\x1aE\xdf\xa3", b"\x00\x00\x00\x18ftypM4A "]


@pytest.fixture(scope="module")
def valid_audio(make_recording) -> bytes:
    path, _ = make_recording(3, seed=51)
    return path.read_bytes()


@pytest.fixture()
def offline(app_with_broker):
    """Accepted uploads are queued on a broker no worker consumes."""
    with app_without_workers(app_with_broker) as idle:
        yield idle


# What a multipart part header can carry: anything but a line break (a hand-made body with a
# filename that is not UTF-8 is in test_hostile_input.py).
HEADER_CHARACTERS = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))


def filenames():
    stem = st.text(alphabet=HEADER_CHARACTERS, max_size=300)
    extension = st.sampled_from([*ALLOWED_EXTENSIONS, "MP3", "exe", "txt", "", "mp3.exe", "wav\x00"])
    return st.one_of(st.builds(lambda s, e: f"{s}.{e}", stem, extension), stem)


def audio_bytes(valid: bytes):
    random_bytes = st.builds(lambda magic, rest: magic + rest, st.sampled_from(AUDIO_MAGIC),
                             st.binary(max_size=4096))
    damaged = st.builds(lambda cut: valid[:cut], st.integers(0, len(valid)))
    return st.one_of(random_bytes, random_bytes, random_bytes, damaged, st.just(valid))


def forms(valid: bytes):
    file_part = st.one_of(st.none(), st.tuples(audio_bytes(valid), filenames(),
                                               st.one_of(st.sampled_from(["audio/mpeg", "audio/wav", ""]),
                                                         st.text(alphabet=HEADER_CHARACTERS, max_size=150))))
    long_text = st.one_of(st.text(max_size=200), st.builds(lambda c, n: c * n, st.characters(),
                                                           st.integers(NOTES_MAX_CHARS - 2, NOTES_MAX_CHARS + 2)))
    return st.fixed_dictionaries({
        "token": st.sampled_from(["valid"] * 9 + ["missing", "garbage"]),
        "file": file_part,
        "session_notes": st.one_of(st.none(), long_text),
        "previous_transcript": st.one_of(st.none(), st.text(max_size=300)),
        "extra": st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=50), max_size=3),
    })


def snapshot(app) -> tuple[tuple[int, int, int], set]:
    with app.app_context():
        rows = tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (SessionAudio, Transcription, TranscriptChunk))
    root = app.extensions["storage"].root
    return rows, {p for p in root.rglob("*") if p.is_file()}


def test_random_forms_never_break_the_app_or_leave_anything_behind(app, offline, valid_audio):
    client = offline.test_client()
    token = csrf_token(client)
    outcomes: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(form=forms(valid_audio))
    def post_anything(form):
        data = {key: value for key, value in form["extra"].items() if key not in ("csrf_token", "audio")}
        if form["token"] != "missing":
            data["csrf_token"] = token if form["token"] == "valid" else "garbage"
        for field in ("session_notes", "previous_transcript"):
            if form[field] is not None:
                data[field] = form[field]
        if form["file"] is not None:
            content, filename, content_type = form["file"]
            data["audio"] = (io.BytesIO(content), filename, content_type)
        before_rows, before_files = snapshot(app)

        response = client.post("/", data=data, content_type="multipart/form-data")

        outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1
        assert response.status_code in (302, 400), response.get_data(as_text=True)[:1000]
        after_rows, after_files = snapshot(app)
        if response.status_code == 400:
            assert after_rows == before_rows, "a refused upload added rows"
            assert after_files == before_files, "a refused upload left files"
            return
        assert after_rows[:2] == (before_rows[0] + 1, before_rows[1] + 1), "one recording, one transcription"
        new_files = after_files - before_files
        assert len(new_files) == 1 and not (after_files ^ before_files) - new_files
        with app.app_context():
            newest = db.session.scalars(select(SessionAudio).order_by(SessionAudio.id.desc())).first()
            assert app.extensions["storage"].local_path(newest.audio_key) in new_files
            assert delete_recording(newest.id)
        assert snapshot(app) == (before_rows, before_files), "deleting it leaves nothing"

    post_anything()
    assert sum(outcomes.values()) >= EXAMPLES
    assert outcomes.get(400, 0) > EXAMPLES // 2, outcomes
