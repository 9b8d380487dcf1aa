"""The DTMF test audio: scripts, synthesis, files through real ffmpeg, and the decoder."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.support.audio_files import write_audio
from tests.support.dtmf import Word, decode_dtmf, decode_dtmf_file, dtmf_script, synthesize, words_text

TIME_TOLERANCE_MS = 30


def assert_same_words(decoded: list[Word], script: list[Word], offset_ms: int = 0) -> None:
    assert words_text(decoded) == words_text(script)
    for heard, said in zip(decoded, script, strict=True):
        assert abs(heard.start_ms - (said.start_ms - offset_ms)) <= TIME_TOLERANCE_MS, (heard, said)
        assert abs(heard.end_ms - (said.end_ms - offset_ms)) <= TIME_TOLERANCE_MS, (heard, said)


def test_script_is_deterministic_speech_with_pauses():
    script = dtmf_script(60, seed=7)
    assert script == dtmf_script(60, seed=7)
    assert script != dtmf_script(60, seed=8)
    gaps = [b.start_ms - a.end_ms for a, b in pairwise(script)]
    assert set(gaps) == {150, 900}
    assert all(word.end_ms - word.start_ms == 200 for word in script)
    assert script[-1].end_ms <= 60_000
    assert words_text(script) == " ".join(word.text for word in script)


def test_no_pause_window_is_continuous_speech():
    script = dtmf_script(60, seed=7, no_pause=[(20, 35)])
    long_gaps = [(a.end_ms, b.start_ms) for a, b in pairwise(script) if b.start_ms - a.end_ms > 150]
    assert long_gaps, "pauses outside the window"
    assert not [gap for gap in long_gaps if gap[0] < 35_000 and gap[1] > 20_000]


def test_decoder_reads_synthesized_audio_exactly():
    script = dtmf_script(30, seed=1)
    assert_same_words(decode_dtmf(synthesize(script, 30)[:, 0], 16000), script)


def test_decoder_reads_nothing_in_noise():
    assert decode_dtmf(synthesize([], 5, noise_db=-30)[:, 0], 16000) == []


def test_burst_cut_short_at_an_edge_is_dropped_not_misread():
    words = [Word("5", 1000, 1200), Word("8", 1550, 1750)]
    pcm = synthesize(words, 2)[:, 0]
    cut_inside_first = pcm[16 * 1150 :]  # leaves 50 ms of the '5'
    assert words_text(decode_dtmf(cut_inside_first, 16000)) == "8"
    cut_early_in_first = pcm[16 * 1040 :]  # leaves 160 ms of the '5'
    assert words_text(decode_dtmf(cut_early_in_first, 16000)) == "5 8"


@pytest.mark.parametrize(
    ("name", "sample_rate", "channels", "codec_args"),
    [
        ("speech.wav", 16000, 1, None),
        ("speech.mp3", 44100, 2, ["-b:a", "128k"]),
        ("speech.flac", 44100, 2, None),
        ("speech.m4a", 44100, 1, None),
    ],
)
def test_file_round_trip(tmp_path, name, sample_rate, channels, codec_args):
    script = dtmf_script(20, seed=3)
    path = write_audio(
        tmp_path / name, script, 20, sample_rate=sample_rate, channels=channels, codec_args=codec_args, noise_db=-55
    )
    assert_same_words(decode_dtmf_file(path), script)


def test_streamed_webm_round_trip(tmp_path):
    script = dtmf_script(10, seed=4)
    path = write_audio(tmp_path / "recording.webm", script, 10, sample_rate=48000, streamed=True)
    assert_same_words(decode_dtmf_file(path), script)


def test_decoding_a_file_that_is_not_audio_fails(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("not audio\n" * 100)
    with pytest.raises(RuntimeError, match="could not decode"):
        decode_dtmf_file(path)
