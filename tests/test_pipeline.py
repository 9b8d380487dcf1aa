"""Recordings through the whole pipeline: the upload form, a real worker, real ffmpeg and the fake API over HTTP."""

import pytest

from extensions import db, get_storage
from models import Transcription
from tasks.rq import redis_connection
from tasks.rq.job import Job
from tests.support.audio_files import write_audio
from tests.support.dtmf import dtmf_script, words_text
from tests.support.web import csrf_token, transcription_id_from, upload, wait_for_status
from tests.support.worker import wait_for

PREVIOUS_SESSION = "and that is where we stopped last week, with the budget for the Lisbon office"
NOTES = "Attendees: Alice Moreau, Bob Tanaka. Topics: Kubernetes migration, OKR review."


def chunk_rows(app, transcription_id):
    with app.app_context():
        transcription = db.session.get(Transcription, transcription_id)
        return [(c.index, c.start_ms, c.end_ms, c.status, c.text, c.attempts) for c in transcription.chunks]


def retry_until_finished(app, client, transcription_id: int, words) -> None:
    """Press Retry on the progress page; the transcription finishes with every word."""
    response = client.post(f"/transcriptions/{transcription_id}/retry",
                           data={"csrf_token": csrf_token(client, f"/transcriptions/{transcription_id}")})
    assert response.status_code == 302
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)


@pytest.fixture()
def sequential(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRANSCRIPTION_PROMPT_MODE", "sequential")


@pytest.fixture()
def short_chunks(app, monkeypatch):
    """30-second chunks and 3 lanes: a 75-second recording is 3 chunks of 25 s in either mode."""
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 30)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_CONCURRENCY", 3)


def test_thirty_minutes_become_one_transcript_from_three_chunks_in_order(
        app, client, worker, fake_openai, make_recording, sequential):
    # "30 minutes" as recordings are: a little under, so three chunks of at most 10 minutes can hold it
    path, words = make_recording(29 * 60 + 40, seed=30)
    response = upload(client, path, filename="team session.mp3", notes=NOTES, previous=PREVIOUS_SESSION)
    transcription_id = transcription_id_from(response)

    transcription = wait_for_status(app, transcription_id, timeout=240)
    assert transcription.status == "finished", transcription.error
    assert transcription.chunk_count == 3 and transcription.chunks_done == 3
    assert transcription.text == words_text(words), "every word once, in order"

    # Each chunk was requested exactly once, in order.
    requests = fake_openai.requests
    assert len(requests) == 3 and all(r.answered_status == 200 for r in requests)
    assert len({r.sha256 for r in requests}) == 3
    assert " ".join(r.text for r in requests) == words_text(words)
    # Chunk 0 is prompted with the previous session's end and the notes' names; chunk k with chunk k-1's end.
    assert requests[0].prompt.endswith(PREVIOUS_SESSION)
    assert "Alice" in requests[0].prompt and "Kubernetes" in requests[0].prompt
    for previous, current in zip(requests, requests[1:]):
        assert current.prompt.split()[-20:] == previous.text.split()[-20:]
        assert "Tanaka" in current.prompt

    page = client.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
    assert "chunk 3 of 3 done" in page and "Download .txt" in page
    download = client.get(f"/transcriptions/{transcription_id}/transcript.txt")
    assert download.status_code == 200
    assert download.get_data(as_text=True).strip() == words_text(words)
    assert 'filename="team session.txt"' in download.headers["Content-Disposition"]


def test_progress_fragment_polls_until_the_end_then_answers_286(app, client, worker, fake_openai, make_recording,
                                                                short_chunks):
    fake_openai.delay_seconds = 1.0
    path, _ = make_recording(75, seed=4)
    transcription_id = transcription_id_from(upload(client, path))
    running = client.get(f"/transcriptions/{transcription_id}/progress")
    assert running.status_code == 200
    assert 'hx-trigger="every 2s"' in running.get_data(as_text=True)
    wait_for_status(app, transcription_id)
    ended = client.get(f"/transcriptions/{transcription_id}/progress")
    assert ended.status_code == 286
    assert "hx-trigger" not in ended.get_data(as_text=True)


@pytest.mark.parametrize("status", [429, 500])
def test_rate_limit_and_server_error_are_recovered_by_retry(app, client, worker, fake_openai, make_recording,
                                                            short_chunks, sequential, status):
    path, words = make_recording(75, seed=5)
    fake_openai.fail(status, match=lambda request: request.number == 2)
    transcription_id = transcription_id_from(upload(client, path))
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)
    assert [r.answered_status for r in fake_openai.requests] == [200, status, 200, 200]
    assert [row[5] for row in chunk_rows(app, transcription_id)] == [1, 2, 1], "attempts per chunk"


def test_a_400_fails_fast_with_a_clear_message(app, client, worker, fake_openai, make_recording, short_chunks,
                                               sequential):
    path, _ = make_recording(75, seed=6)
    fake_openai.fail(400, message="Audio file might be corrupted or unsupported",
                     match=lambda request: request.number == 2)
    transcription_id = transcription_id_from(upload(client, path))
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "failed"
    assert len(fake_openai.requests) == 2, "a 400 is not retried and the chunks after it are not sent"
    assert "Chunk 2 of 3 (0:" in transcription.error
    assert "HTTP 400: Audio file might be corrupted or unsupported" in transcription.error

    fragment = client.get(f"/transcriptions/{transcription_id}/progress")
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 286
    assert "Transcription failed." in html and "Chunk 2 of 3" in html and "Retry" in html


def test_retry_after_a_failure_never_requests_a_saved_chunk_again(app, client, worker, fake_openai, make_recording,
                                                                  short_chunks, sequential):
    path, words = make_recording(75, seed=7)
    fake_openai.fail(400, match=lambda request: request.number == 2)
    transcription_id = transcription_id_from(upload(client, path))
    assert wait_for_status(app, transcription_id).status == "failed"
    first_chunk = fake_openai.requests[0]

    retry_until_finished(app, client, transcription_id, words)
    answered = fake_openai.answered()
    assert [r.sha256 for r in answered].count(first_chunk.sha256) == 1, "the saved chunk was not paid for twice"
    assert len(answered) == 3


def test_parallel_mode_prompts_every_chunk_with_the_notes_and_previous_session(
        app, client, worker, fake_openai, make_recording, short_chunks):
    path, words = make_recording(75, seed=8)
    transcription_id = transcription_id_from(upload(client, path, notes=NOTES, previous=PREVIOUS_SESSION))
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)
    prompts = {r.prompt for r in fake_openai.requests}
    assert len(prompts) == 1 and prompts.pop().endswith(PREVIOUS_SESSION)
    assert len(fake_openai.requests) == 3


def test_unknown_transcription_is_a_404_page(client):
    response = client.get("/transcriptions/999999")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_a_browser_recording_without_a_stated_duration_is_cut_from_a_working_copy(
        app, client, worker, fake_openai, short_chunks, tmp_path):
    words = dtmf_script(75, seed=9)
    path = write_audio(tmp_path / "browser.webm", words, 75, sample_rate=48000, streamed=True)
    transcription_id = transcription_id_from(upload(client, path, content_type="audio/webm"))
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "finished", transcription.error
    assert transcription.text == words_text(words)
    assert transcription.chunk_count == 3
    with app.app_context():
        session_audio = db.session.get(Transcription, transcription_id).session_audio
        assert not get_storage().exists(session_audio.work_key), "the working copy is removed when done"


def test_progress_is_readable_from_the_pipeline_job_meta(app, client, worker, fake_openai, make_recording,
                                                          short_chunks, sequential):
    """RQ-style callers follow a transcription with Job.fetch(id).meta, from any process."""
    fake_openai.delay_seconds = 0.5
    path, _ = make_recording(75, seed=12)
    transcription_id = transcription_id_from(upload(client, path))
    with app.app_context():
        job_id = db.session.get(Transcription, transcription_id).job_id
        connection = redis_connection()

    def one_chunk_done():
        meta = Job.fetch(job_id, connection=connection).get_meta()
        return meta if meta.get("chunks_done") == 1 else None

    midway = wait_for(one_chunk_done, 30, message="the job meta to show one chunk done")
    assert midway["status"] == "running" and midway["chunk_count"] == 3
    wait_for_status(app, transcription_id)
    # The job itself finishes a moment after the database says the transcription did.
    job = wait_for(lambda: (job := Job.fetch(job_id, connection=connection)).get_status() == "finished" and job,
                   10, message="the pipeline job to finish")
    assert job.meta == {"transcription_id": transcription_id, "status": "finished", "chunks_done": 3,
                        "chunk_count": 3}
    assert job.origin == "transcription"
    assert job.func_name == "tasks.pipeline.process_session_audio_task"


def test_a_run_that_died_mid_plan_plans_the_missing_chunks_again_and_keeps_the_rest(
        app, client, worker, fake_openai, make_recording, short_chunks):
    path, words = make_recording(75, seed=12)
    transcription_id = transcription_id_from(upload(client, path))
    assert wait_for_status(app, transcription_id).status == "finished"
    planned = chunk_rows(app, transcription_id)
    assert len(planned) == 3
    first_chunk = next(r.sha256 for r in fake_openai.answered() if r.filename.startswith("chunk-0000."))
    # As a worker killed after recording the first chunk's row leaves it (then failed by a time limit).
    with app.app_context():
        transcription = db.session.get(Transcription, transcription_id)
        for chunk in transcription.chunks[1:]:
            db.session.delete(chunk)
        transcription.status, transcription.text, transcription.chunks_done = "failed", "", 1
        db.session.commit()

    retry_until_finished(app, client, transcription_id, words)
    replanned = chunk_rows(app, transcription_id)
    assert [row[:3] for row in replanned] == [row[:3] for row in planned], "the same cuts as the first plan"
    answered = [r.sha256 for r in fake_openai.answered()]
    assert answered.count(first_chunk) == 1 and len(answered) == 5, "chunk 1 kept, chunks 2 and 3 sent again"


def test_helper_lanes_take_the_chunks_planned_after_they_started(app, client, worker, fake_openai, make_recording,
                                                                 monkeypatch):
    # 75 s in chunks of at most 30 s on 2 lanes: 4 chunks; the first 2 are recorded before the
    # lanes start, the other 2 by the planning thread while they work.
    monkeypatch.setitem(app.config, "CHUNK_SECONDS", 30)
    monkeypatch.setitem(app.config, "TRANSCRIPTION_CONCURRENCY", 2)
    path, words = make_recording(75, seed=13)
    transcription_id = transcription_id_from(upload(client, path))
    transcription = wait_for_status(app, transcription_id)
    assert transcription.status == "finished", transcription.error
    assert transcription.chunk_count == 4 and transcription.text == words_text(words)
    assert [row[0] for row in chunk_rows(app, transcription_id)] == [0, 1, 2, 3]
    assert sorted(r.filename for r in fake_openai.answered()) == [f"chunk-{i:04d}.mp3" for i in range(4)]
