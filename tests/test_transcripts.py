"""Timed transcripts end to end (a real worker and the fake API over HTTP), the player's audio with
Range requests, the recordings list and deleting a recording."""

from __future__ import annotations

import io
import json
import re

import pytest
from docx import Document

from extensions import db, get_storage
from models import SessionAudio, TranscriptChunk, Transcription
from tests.support.dtmf import words_text
from tests.support.recordings import make_transcription, recordings_removed_afterwards
from tests.support.subtitles import assert_valid_timeline, parse_subtitles
from tests.support.web import csrf_token, transcription_id_from, upload, wait_for_status


@pytest.fixture()
def short_chunks(app, monkeypatch):
    """30-second chunks and 3 lanes: a 75-second recording is 3 chunks of 25 s."""
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 30)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_CONCURRENCY", 3)


def chunk_starts(app, transcription_id: int) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(db.select(TranscriptChunk.index, TranscriptChunk.start_ms)
                                  .where(TranscriptChunk.transcription_id == transcription_id)).all()
    return dict(rows)


def served_segments(fake_openai, starts: dict[int, int]) -> list[tuple[int, int, str]]:
    """What the fake API answered for each chunk, moved onto the recording's timeline by hand:
    its decoded words are timed from the start of the chunk it was sent."""
    segments = []
    for request in sorted(fake_openai.answered(), key=lambda r: r.filename):
        index = int(re.fullmatch(r"chunk-(\d+)\.(?:flac|mp3)", request.filename).group(1))
        for group in fake_openai._phrases(request.words):
            segments.append((starts[index] + group[0].start_ms, starts[index] + group[-1].end_ms, words_text(group)))
    return segments


def test_three_chunks_give_subtitles_and_json_with_every_segment_in_order_on_the_recordings_timeline(
        app, client, worker, fake_openai, make_recording, short_chunks):
    path, words = make_recording(75, seed=71)
    with recordings_removed_afterwards(app):
        transcription_id = transcription_id_from(upload(client, path, filename="Council 12.mp3"))
        transcription = wait_for_status(app, transcription_id)
        assert transcription.status == "finished", transcription.error
        assert transcription.chunk_count == 3
        starts = chunk_starts(app, transcription_id)
        assert starts[1] > 0 and starts[2] > starts[1], "chunks 2 and 3 start later in the recording"
        expected = served_segments(fake_openai, starts)
        assert len(expected) >= 6 and " ".join(text for *_, text in expected) == words_text(words)
        # The times are the recording's: the first word of every segment is where the script put it.
        by_start = {word.start_ms: word for word in words}
        for start, _, text in expected:
            nearest = min(by_start, key=lambda ms: abs(ms - start))
            assert abs(nearest - start) <= 40 and by_start[nearest].text == text.split()[0]

        url = f"/transcriptions/{transcription_id}/transcript"
        document = json.loads(client.get(url + ".json").get_data(as_text=True))
        assert [(s["start_ms"], s["end_ms"], s["text"]) for s in document["segments"]] == expected
        assert document["transcription"] == {"id": transcription_id, "engine": "openai", "model": "whisper-1",
                                             "timing": "segments"}
        assert document["recording"]["name"] == "Council 12.mp3"
        assert document["text"] == words_text(words)

        for kind in ("srt", "vtt"):
            response = client.get(f"{url}.{kind}")
            assert response.status_code == 200
            assert f'filename="Council 12.{kind}"' in response.headers["Content-Disposition"]
            cues = parse_subtitles(response.get_data(as_text=True), kind)
            assert_valid_timeline(cues, duration_ms=document["recording"]["duration_ms"])
            assert [(c.start_ms, c.end_ms, c.text) for c in cues] == expected

        page = client.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
        assert page.count('class="segment"') == len(expected)
        assert f'data-start-ms="{expected[-1][0]}"' in page
        docx = Document(io.BytesIO(client.get(url + ".docx").data))
        assert [p.text.split("]  ", 1)[1] for p in docx.paragraphs[2:]] == [text for *_, text in expected]


def test_overlapped_seams_keep_every_word_once_in_the_timed_transcript(app, client, worker, fake_openai,
                                                                       make_recording, short_chunks):
    # Speech without a pause around 0:25 and 0:50: the cuts fall mid-speech and chunks overlap by 2 s.
    path, words = make_recording(75, seed=72, no_pause=((12, 33), (40, 61)))
    with recordings_removed_afterwards(app):
        transcription_id = transcription_id_from(upload(client, path))
        transcription = wait_for_status(app, transcription_id)
        assert transcription.status == "finished", transcription.error
        with app.app_context():
            chunks = db.session.get(Transcription, transcription_id).chunks
            assert any(a.end_ms > b.start_ms for a, b in zip(chunks, chunks[1:])), "some chunks overlap"
        document = json.loads(client.get(f"/transcriptions/{transcription_id}/transcript.json").data)
        assert " ".join(s["text"] for s in document["segments"]) == transcription.text == words_text(words)
        cues = parse_subtitles(client.get(f"/transcriptions/{transcription_id}/transcript.srt")
                               .get_data(as_text=True), "srt")
        assert_valid_timeline(cues, duration_ms=document["recording"]["duration_ms"])
        assert " ".join(c.text for c in cues) == words_text(words)


def test_a_text_only_model_gets_its_chunks_times(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription = make_transcription("alice", chunks=3, text="spoken words without times")
            transcription.model = "gpt-4o-transcribe"
            db.session.commit()
            transcription_id = transcription.id
        alice = app.test_client(user="alice")
        document = json.loads(alice.get(f"/transcriptions/{transcription_id}/transcript.json").data)
        assert document["transcription"]["timing"] == "chunks"
        assert [(s["start_ms"], s["end_ms"]) for s in document["segments"]] == [
            (0, 60_000), (60_000, 120_000), (120_000, 180_000)]
        cues = parse_subtitles(alice.get(f"/transcriptions/{transcription_id}/transcript.vtt")
                               .get_data(as_text=True), "vtt")
        assert_valid_timeline(cues, duration_ms=180_000)
        assert [c.text for c in cues] == [f"spoken words without times part {n}" for n in range(3)]
        assert [c.start_ms for c in cues] == [0, 60_000, 120_000], "each at its chunk's start"
        page = alice.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
        assert "This model gives text without times" in page


def test_downloads_and_the_transcript_wait_for_the_end(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription_id = make_transcription("alice", status="running").id
        alice = app.test_client(user="alice")
        for suffix in ("/transcript", "/transcript.txt", "/transcript.srt", "/transcript.docx"):
            assert alice.get(f"/transcriptions/{transcription_id}{suffix}").status_code == 404, suffix


def test_the_audio_is_served_in_ranges_to_its_owner_only(app, make_recording):
    path, _ = make_recording(5)
    size = path.stat().st_size
    with recordings_removed_afterwards(app):
        with app.app_context():
            recording_id = make_transcription("alice", audio=path).session_audio_id
        url = f"/recordings/{recording_id}/audio"
        alice = app.test_client(user="alice")
        whole = alice.get(url)
        assert whole.status_code == 200 and whole.data == path.read_bytes()
        assert whole.headers["Content-Type"] == "audio/mpeg" and whole.headers["Accept-Ranges"] == "bytes"
        assert whole.headers["Cache-Control"] == "no-store"
        part = alice.get(url, headers={"Range": "bytes=100-1123"})
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 100-1123/{size}"
        assert part.data == path.read_bytes()[100:1124]
        tail = alice.get(url, headers={"Range": f"bytes={size - 10}-"})
        assert tail.status_code == 206 and len(tail.data) == 10
        assert alice.get(url, headers={"Range": f"bytes={size + 10}-"}).status_code == 416
        assert app.test_client(user="bob").get(url, headers={"Range": "bytes=0-99"}).status_code == 404
        assert app.test_client().get(url).status_code == 200, "admins too"


def test_the_list_shows_each_user_their_recordings_and_admins_all_with_owners(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            mine = make_transcription("alice", status="running", chunks=4)
            mine.session_audio.original_name = "alice standup.mp3"
            theirs = make_transcription("bob")
            theirs.session_audio.original_name = "bob retro.m4a"
            db.session.commit()
            mine_id = mine.id
        alice_home = app.test_client(user="alice").get("/").get_data(as_text=True)
        assert "alice standup.mp3" in alice_home and "bob retro.m4a" not in alice_home
        assert f'href="/transcriptions/{mine_id}"' in alice_home
        assert 'badge-running">running' in alice_home and "2/4" in alice_home and "4:00" in alice_home
        assert ">Owner<" not in alice_home
        admin_home = app.test_client().get("/").get_data(as_text=True)
        assert "alice standup.mp3" in admin_home and "bob retro.m4a" in admin_home
        assert ">Owner<" in admin_home and ">alice<" in admin_home and ">bob<" in admin_home


def test_deleting_a_running_recording_cancels_it_then_removes_everything(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription = make_transcription("alice", status="running")
            recording_id, transcription_id = transcription.session_audio_id, transcription.id
            audio_key = transcription.session_audio.audio_key
            assert get_storage().exists(audio_key)
        alice = app.test_client(user="alice")
        confirm = alice.get(f"/recordings/{recording_id}/delete")
        assert confirm.status_code == 200
        assert "being transcribed right now" in confirm.get_data(as_text=True)
        token = csrf_token(alice, f"/recordings/{recording_id}/delete")
        assert app.test_client(user="bob").post(f"/recordings/{recording_id}/delete",
                                                data={"csrf_token": token}).status_code in (400, 404)
        response = alice.post(f"/recordings/{recording_id}/delete", data={"csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/"
        with app.app_context():
            assert db.session.get(SessionAudio, recording_id) is None
            assert db.session.get(Transcription, transcription_id) is None
            assert db.session.scalar(db.select(db.func.count()).select_from(TranscriptChunk)
                                     .where(TranscriptChunk.transcription_id == transcription_id)) == 0
            assert not get_storage().exists(audio_key)
        home = alice.get("/").get_data(as_text=True)
        assert "Deleted “session.mp3”" in home
        assert alice.get(f"/transcriptions/{transcription_id}").status_code == 404


def test_a_poll_sends_only_the_text_of_chunks_done_since_the_page_had_them(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription_id = make_transcription("alice", status="running", chunks=4, text="said").id
        alice = app.test_client(user="alice")
        page = alice.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
        assert page.count('class="live-chunk"') == 2, "the page has the text of the two chunks done"
        assert "progress?shown=0,1\"" in page, "and its polls say so"
        url = f"/transcriptions/{transcription_id}/progress"
        assert alice.get(url + "?shown=0,1").get_data(as_text=True).count("live-chunk") == 0
        newer = alice.get(url + "?shown=0").get_data(as_text=True)
        assert newer.count('class="live-chunk"') == 1 and "said part 1" in newer and "said part 0" not in newer
        assert 'hx-swap-oob="beforeend:#live-text"' in newer
        assert alice.get(url).get_data(as_text=True).count('class="live-chunk"') == 2, "a poll that says nothing"
        assert alice.get(url + "?shown=x,-1,99999999999,,1,²,٣").status_code == 200


@pytest.mark.parametrize("page", ["0", "-3", "x", "²", "9" * 40, "2"])
def test_any_page_number_of_the_list_is_a_page(client, page):
    assert client.get(f"/?page={page}").status_code == 200
