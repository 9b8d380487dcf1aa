"""The offline engine (PocketSphinx) on real speech, and how the engine is chosen."""

from __future__ import annotations

import pytest

from extensions import db
from models import Transcription
from tests.support.audio_files import write_audio
from tests.support.speech import FIRST, PAUSE_ENDS_MS, PAUSE_STARTS_MS, SECOND, SPEECH, words_recognised
from tests.support.web import transcription_id_from, upload, wait_for_status
from transcription.engines import (
    EngineUnavailable,
    PermanentEngineError,
    PocketSphinxEngine,
    build_engine,
    choose_engine,
)


@pytest.fixture(scope="module")
def recognised():
    """The sample, transcribed once for the tests that only read the result (it takes seconds)."""
    return PocketSphinxEngine().transcribe(str(SPEECH))


def test_the_offline_engine_recognises_most_of_the_spoken_words(recognised):
    result = recognised
    # PocketSphinx is far from perfect on synthetic speech: about 20 of 26 words here.
    assert words_recognised(f"{FIRST} {SECOND}", result.text) >= 0.6, result.text
    assert words_recognised("monday morning meeting friday", result.text) >= 0.75, result.text


def test_the_offline_engine_gives_one_timed_segment_per_stretch_of_speech(recognised):
    result = recognised
    assert len(result.segments) == 2, result.segments
    first, second = result.segments
    assert 0 <= first.start_ms < first.end_ms <= PAUSE_STARTS_MS + 300
    assert PAUSE_ENDS_MS - 300 <= second.start_ms < second.end_ms <= 11_800
    assert words_recognised(FIRST, first.text) >= 0.6 and words_recognised(SECOND, second.text) >= 0.6
    assert result.text == f"{first.text} {second.text}"


def test_the_same_audio_gives_the_same_text_every_time(recognised, make_recording):
    other, _ = make_recording(4, seed=3)
    engine = PocketSphinxEngine()
    engine.transcribe(str(other))  # the decoder adapts to what it hears ...
    assert engine.transcribe(str(SPEECH)).text == recognised.text  # ... and starts afresh for every chunk


def test_silence_gives_no_text(tmp_path):
    silent = write_audio(tmp_path / "silence.flac", [], 3.0)
    assert PocketSphinxEngine().transcribe(str(silent)).text == ""


def test_a_file_that_is_not_audio_is_a_permanent_error(tmp_path):
    bogus = tmp_path / "chunk.flac"
    bogus.write_bytes(b"not audio at all" * 100)
    with pytest.raises(PermanentEngineError, match="could not be decoded"):
        PocketSphinxEngine().transcribe(str(bogus))


def test_only_the_bundled_model_is_known():
    with pytest.raises(PermanentEngineError, match="only the 'en-us' model"):
        build_engine("pocketsphinx", "de-de", {})
    assert isinstance(build_engine("pocketsphinx", "en-us", {}), PocketSphinxEngine)


@pytest.mark.parametrize(("setting", "key", "expected"), [
    ("auto", "", ("pocketsphinx", "en-us")),
    ("", "", ("pocketsphinx", "en-us")),
    ("auto", "sk-x", ("openai", "gpt-4o-transcribe")),
    (" Offline ", "sk-x", ("pocketsphinx", "en-us")),
    ("openai", "sk-x", ("openai", "gpt-4o-transcribe")),
])
def test_choose_engine(setting, key, expected):
    assert choose_engine(setting, key, "gpt-4o-transcribe") == expected


def test_choose_engine_explains_what_is_wrong():
    with pytest.raises(EngineUnavailable, match="needs an OpenAI API key.*TRANSCRIPTION_ENGINE=offline"):
        choose_engine("openai", "", "whisper-1")
    with pytest.raises(EngineUnavailable, match="must be one of auto, openai, offline, got 'vosk'"):
        choose_engine("vosk", "sk-x", "whisper-1")


def test_a_recording_goes_through_the_pipeline_on_the_offline_engine(app, client, worker, monkeypatch):
    """Upload, chunks cut as 16 kHz FLAC by the worker, PocketSphinx on each, transcript page names the engine."""
    monkeypatch.setitem(app.config, "TRANSCRIPTION_ENGINE", "offline")
    response = upload(client, SPEECH, filename="meeting.ogg", content_type="audio/ogg")
    transcription_id = transcription_id_from(response)
    transcription = wait_for_status(app, transcription_id, timeout=90)
    assert transcription.status == "finished", transcription.error
    assert (transcription.engine, transcription.model) == ("pocketsphinx", "en-us")
    assert words_recognised(f"{FIRST} {SECOND}", transcription.text) >= 0.6, transcription.text
    with app.app_context():
        chunk = db.session.get(Transcription, transcription_id).chunks[0]
        assert chunk.segments_json.count('"') >= 4, "the segments were saved with their times"
    page = client.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
    assert "engine <strong>pocketsphinx</strong>, model <strong>en-us</strong>" in page
    assert "Transcribed by pocketsphinx (model en-us)" in page
