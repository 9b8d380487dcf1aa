"""The OpenAI engine against the fake server over real HTTP: answers, and how failures are classified."""

import pytest

from tests.support.dtmf import words_text
from transcription.engines import OpenAIEngine, PermanentEngineError, TransientEngineError
from transcription.service import ChunkFailed, RetryPolicy, transcribe_with_retries

API_KEY = "sk-test-not-a-real-key"


@pytest.fixture()
def chunk(make_recording):
    path, words = make_recording(20, seed=3, ext=".flac")
    return path, words


def engine(fake, model="whisper-1", timeout=4.0):
    return OpenAIEngine(api_key=API_KEY, model=model, base_url=fake.base_url, timeout=timeout)


def test_whisper_answers_text_and_timed_segments(fake_openai, chunk):
    path, words = chunk
    result = engine(fake_openai).transcribe(str(path), prompt="Names and terms: Alice.")
    assert result.text == words_text(words)
    assert result.segments, "whisper-1 is asked for verbose_json and gives segments"
    assert result.segments[0].start_ms == pytest.approx(words[0].start_ms, abs=40)
    assert all(a.end_ms <= b.start_ms for a, b in zip(result.segments, result.segments[1:]))
    (request,) = fake_openai.requests
    assert request.prompt == "Names and terms: Alice." and request.response_format == "verbose_json"


def test_text_only_models_are_asked_for_json(fake_openai, chunk):
    path, words = chunk
    result = engine(fake_openai, model="gpt-4o-transcribe").transcribe(str(path))
    assert result.text == words_text(words) and result.segments == []
    assert fake_openai.requests[0].response_format == "json"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient(fake_openai, chunk, status):
    fake_openai.fail(status)
    with pytest.raises(TransientEngineError, match=str(status)):
        engine(fake_openai).transcribe(str(chunk[0]))


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_errors_are_permanent(fake_openai, chunk, status):
    fake_openai.fail(status, message=f"rejected with key {API_KEY}")
    with pytest.raises(PermanentEngineError) as caught:
        engine(fake_openai).transcribe(str(chunk[0]))
    assert str(status) in str(caught.value)
    assert API_KEY not in str(caught.value), "the key never reaches a message"


def test_a_hang_past_the_client_timeout_is_transient(fake_openai, chunk):
    fake_openai.fail(200, hang_seconds=5)
    with pytest.raises(TransientEngineError, match="timed out"):
        engine(fake_openai, timeout=1.0).transcribe(str(chunk[0]))


def test_an_unreachable_server_is_transient(chunk):
    dead = OpenAIEngine(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(TransientEngineError, match="could not be reached"):
        dead.transcribe(str(chunk[0]))


def test_retries_recover_from_transient_failures(fake_openai, chunk):
    path, words = chunk
    fake_openai.fail(429)
    fake_openai.fail(500)
    waits = []
    result = transcribe_with_retries(engine(fake_openai), str(path), "", RetryPolicy(3, 0.01), wait=waits.append)
    assert result.text == words_text(words)
    assert [r.answered_status for r in fake_openai.requests] == [429, 500, 200]
    assert len(waits) == 2


def test_retries_stop_after_max_attempts(fake_openai, chunk):
    fake_openai.fail(500, times=5)
    with pytest.raises(ChunkFailed, match="Gave up after 3 attempts"):
        transcribe_with_retries(engine(fake_openai), str(chunk[0]), "", RetryPolicy(3, 0.01), wait=lambda s: None)
    assert len(fake_openai.requests) == 3


def test_permanent_errors_are_never_retried(fake_openai, chunk):
    fake_openai.fail(400, times=5)
    with pytest.raises(ChunkFailed, match="400"):
        transcribe_with_retries(engine(fake_openai), str(chunk[0]), "", RetryPolicy(3, 0.01), wait=lambda s: None)
    assert len(fake_openai.requests) == 1


def test_attempts_already_made_count(fake_openai, chunk):
    fake_openai.fail(500, times=5)
    with pytest.raises(ChunkFailed):
        transcribe_with_retries(engine(fake_openai), str(chunk[0]), "", RetryPolicy(3, 0.01),
                                attempts_made=2, wait=lambda s: None)
    assert len(fake_openai.requests) == 1
