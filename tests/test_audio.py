"""transcription.audio against the real ffmpeg on generated recordings."""

from __future__ import annotations

import random
import subprocess
import wave
from itertools import pairwise

import pytest

from tests.support.audio_files import write_audio, write_video
from tests.support.dtmf import decode_dtmf_file, dtmf_script, words_text
from transcription.audio import (
    MAX_CHUNK_BYTES,
    MAX_CHUNK_MS,
    AudioInfo,
    ChunkRange,
    InvalidAudioError,
    chunk_count,
    chunk_format,
    export_chunk,
    export_chunks,
    ffmpeg_binary,
    plan_chunks,
    plan_recording,
    prepare,
    probe,
)

SHORT_S = 20
SHORT_SCRIPT = dtmf_script(SHORT_S, seed=5)


def pcm_of(path) -> bytes:
    """The samples of an audio file as 16 kHz mono s16le."""
    command = [ffmpeg_binary(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def ffmpeg_header(path) -> str:
    return subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


@pytest.fixture(scope="module")
def short_files(tmp_path_factory):
    """The same 20-second script in every accepted type, in the shapes users upload."""
    folder = tmp_path_factory.mktemp("short")
    files = {
        "mp3": write_audio(folder / "a.mp3", SHORT_SCRIPT, SHORT_S, sample_rate=44100, channels=2,
                           codec_args=["-b:a", "128k"]),
        "m4a": write_audio(folder / "a.m4a", SHORT_SCRIPT, SHORT_S, sample_rate=48000),
        "wav": write_audio(folder / "a.wav", SHORT_SCRIPT, SHORT_S, sample_rate=44100, channels=2),
        "webm": write_audio(folder / "a.webm", SHORT_SCRIPT, SHORT_S, sample_rate=48000, streamed=True),
        "ogg": write_audio(folder / "a.ogg", SHORT_SCRIPT, SHORT_S, sample_rate=48000, channels=2),
        "flac": write_audio(folder / "a.flac", SHORT_SCRIPT, SHORT_S, sample_rate=22050),
    }  # fmt: skip
    files["mp4"] = write_video(folder / "a.mp4", SHORT_S, audio_from=files["wav"])
    return files


@pytest.mark.parametrize(
    ("kind", "codec", "sample_rate", "channels", "container", "seekable"),
    [
        ("mp3", "mp3", 44100, 2, "mp3", True),
        ("m4a", "aac", 48000, 1, "mov,mp4,m4a,3gp,3g2,mj2", True),
        ("wav", "pcm_s16le", 44100, 2, "wav", True),
        ("webm", "opus", 48000, 1, "matroska,webm", False),  # live-streamed: no duration, no cues
        ("ogg", "vorbis", 48000, 2, "ogg", True),
        ("flac", "flac", 22050, 1, "flac", True),
        ("mp4", "aac", 44100, 2, "mov,mp4,m4a,3gp,3g2,mj2", True),
    ],
)
def test_probe_describes_every_accepted_type(short_files, kind, codec, sample_rate, channels, container, seekable):
    info = probe(short_files[kind])
    assert info == AudioInfo(info.duration_ms, codec, sample_rate, channels, container, seekable)
    assert abs(info.duration_ms - SHORT_S * 1000) <= 50


def test_probe_measures_a_recording_whose_container_states_no_duration(short_files):
    assert "Duration: N/A" in ffmpeg_header(short_files["webm"])  # as a browser's MediaRecorder writes it
    assert abs(probe(short_files["webm"]).duration_ms - SHORT_S * 1000) <= 50


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_text("Session notes, not audio.\n" * 200), "This file is not audio we can read."),
        (lambda path: path.write_bytes(b""), "The file is empty."),
        (lambda path: write_video(path.with_suffix(".mp4"), 2).rename(path), "The file contains no audio track."),
        (lambda path: write_audio(path.with_suffix(".wav"), [], 0).rename(path), "The recording is empty (0 seconds)."),
    ],
    ids=["text-renamed-mp3", "empty-file", "video-only", "zero-seconds"],
)
def test_probe_and_prepare_reject_what_is_not_a_recording(tmp_path, make, message):
    upload = tmp_path / "upload.mp3"
    make(upload)
    with pytest.raises(InvalidAudioError) as probed:
        probe(upload)
    assert str(probed.value) == message
    if upload.stat().st_size:
        with pytest.raises(InvalidAudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
            prepare(upload, tmp_path)


def test_truncated_file_passes_the_quick_probe_but_prepare_says_where_it_stops(short_files, tmp_path):
    data = short_files["mp3"].read_bytes()
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    # The probe trusts the stated duration and decodes only the first seconds: it cannot know.
    assert probe(truncated).duration_ms == pytest.approx(SHORT_S * 1000, abs=50)
    with pytest.raises(InvalidAudioError, match=r"^The audio could not be decoded past 0:1[12]; the file may be"):
        prepare(truncated, tmp_path)


def test_truncated_file_fails_where_a_chunk_cut_from_it_stops(short_files, tmp_path):
    data = short_files["mp3"].read_bytes()
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    info = probe(truncated)
    export_chunk(truncated, ChunkRange(0, 0, 8_000), tmp_path / "whole.flac")  # before the break: fine
    with pytest.raises(InvalidAudioError, match=r"^The audio could not be decoded past 0:1[12]; the file may be"):
        export_chunk(truncated, ChunkRange(1, 8_000, info.duration_ms), tmp_path / "broken.flac")
    assert not list(tmp_path.glob("broken.flac*")), "no partial chunk is left"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Three minutes of stereo 44.1 kHz MP3 "speech" with noise; 40-70 s is continuous speech."""
    folder = tmp_path_factory.mktemp("recording")
    script = dtmf_script(180, seed=9, no_pause=[(40, 70)])
    path = write_audio(
        folder / "session.mp3", script, 180, sample_rate=44100, channels=2, codec_args=["-b:a", "128k"], noise_db=-55
    )
    return script, path


@pytest.fixture(scope="module")
def prepared(recording, tmp_path_factory):
    return prepare(recording[1], tmp_path_factory.mktemp("prepared"))


def test_prepare_writes_16k_mono_wav_with_measured_duration(prepared, recording):
    with wave.open(str(prepared.wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert prepared.duration_ms == wav.getnframes() // 16
    assert abs(prepared.duration_ms - 180_000) <= 30
    assert words_text(decode_dtmf_file(prepared.wav_path)) == words_text(recording[0])


def test_prepare_finds_the_pauses_and_nothing_inside_speech(prepared, recording):
    script = recording[0]
    pauses = [(a.end_ms, b.start_ms) for a, b in pairwise(script) if b.start_ms - a.end_ms > 400]
    assert len(pauses) > 20
    assert len(prepared.silences) == len(pauses) + 1  # and the silence after the last word
    for (silence_start, silence_end), (pause_start, pause_end) in zip(prepared.silences, pauses, strict=False):
        assert abs(silence_start - pause_start) <= 30 and abs(silence_end - pause_end) <= 30
    assert not [s for s in prepared.silences if s[0] < 70_000 and s[1] > 40_000]


def test_prepare_reads_a_stream_without_seek_index(short_files, tmp_path):
    prepared = prepare(short_files["webm"], tmp_path)
    assert abs(prepared.duration_ms - SHORT_S * 1000) <= 30
    assert words_text(decode_dtmf_file(prepared.wav_path)) == words_text(SHORT_SCRIPT)


def test_export_chunks_cuts_the_wav_at_exact_samples(prepared, tmp_path):
    ranges = plan_chunks(prepared.duration_ms, prepared.silences, 40_000)
    assert len(ranges) >= 5
    landed = dict(export_chunks(prepared.wav_path, ranges, tmp_path))
    assert sorted(landed, key=lambda chunk: chunk.index) == ranges
    with wave.open(str(prepared.wav_path)) as wav:
        samples = wav.readframes(wav.getnframes())
    for chunk, path in landed.items():
        assert path == tmp_path / f"chunk-{chunk.index:04d}.flac"
        assert ffmpeg_header(path).count("flac, 16000 Hz, mono, s16") == 1
        # FLAC is lossless: the chunk is exactly its slice of the working WAV.
        assert pcm_of(path) == samples[chunk.start_ms * 32 : chunk.end_ms * 32]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in landed.values())


def test_export_chunk_from_a_source_without_seek_index(short_files, tmp_path):
    chunk = ChunkRange(1, 7_250, 13_500)
    path = export_chunk(short_files["webm"], chunk, tmp_path / "again.flac")
    assert len(pcm_of(path)) == (chunk.end_ms - chunk.start_ms) * 32
    heard = words_text(decode_dtmf_file(path))
    assert heard == words_text(w for w in SHORT_SCRIPT if w.start_ms >= 7_250 and w.end_ms <= 13_500)


def test_failed_export_raises_and_leaves_no_chunk_file(tmp_path):
    source = tmp_path / "garbled.wav"
    source.write_text("RIFF but not really\n" * 100)
    with pytest.raises(RuntimeError, match="could not export chunk 0"):
        export_chunk(source, ChunkRange(0, 0, 1000), tmp_path / "chunk.flac")
    assert list(tmp_path.iterdir()) == [source]


def test_longest_chunk_of_incompressible_audio_stays_under_the_api_limit(tmp_path):
    noise = tmp_path / "noise.wav"
    command = [
        ffmpeg_binary(), "-v", "error", "-f", "lavfi", "-i", "anoisesrc=r=16000:a=1:c=white:seed=1",
        "-t", f"{MAX_CHUNK_MS / 1000}", "-c:a", "pcm_s16le", str(noise),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    size = export_chunk(noise, ChunkRange(0, 0, MAX_CHUNK_MS), tmp_path / "chunk.flac").stat().st_size
    assert 0.95 * MAX_CHUNK_BYTES < size < MAX_CHUNK_BYTES  # tight: white noise does not compress


# plan_chunks is pure: checked on made-up silences.


def test_plan_cuts_equal_chunks_at_the_silence_nearest_each_boundary():
    # 300 s in chunks of at most 100 s: three chunks of 100 s would leave no room to look for
    # silences, so four of 75 s, boundaries at 75, 150 and 225 s, each searched 20 s wide.
    silences = [(60_000, 61_000), (70_000, 72_000), (79_000, 80_000), (149_000, 149_500), (231_000, 232_000)]
    assert plan_chunks(300_000, silences, 100_000, search_window_ms=20_000) == [
        ChunkRange(0, 0, 71_000),  # 70-72 s is nearer to 75 s than 79-80 s; 60-61 s is outside the window
        ChunkRange(1, 71_000, 149_250),
        ChunkRange(2, 149_250, 231_500),
        ChunkRange(3, 231_500, 300_000),
    ]


def test_plan_overlaps_chunks_where_no_silence_is_near_the_boundary():
    silences = [(10_000, 11_000)]  # far from the boundaries, outside the search windows
    assert plan_chunks(150_000, silences, 60_000, overlap_ms=2_000) == [
        ChunkRange(0, 0, 50_000),
        ChunkRange(1, 48_000, 100_000),
        ChunkRange(2, 98_000, 150_000),
    ]


def test_plan_uses_the_part_of_a_silence_inside_the_window():
    # Two chunks of 50 s; a silence from 45 to 70 s reaches 5 s into the 10 s window around 50 s.
    assert plan_chunks(100_000, [(45_000, 70_000)], 60_000, search_window_ms=10_000)[0] == ChunkRange(0, 0, 50_000)
    assert plan_chunks(100_000, [(52_000, 70_000)], 60_000, search_window_ms=10_000)[0] == ChunkRange(0, 0, 53_500)


def test_a_recording_within_one_chunk_is_one_chunk():
    assert plan_chunks(600_000, [], 600_000) == [ChunkRange(0, 0, 600_000)]


@pytest.mark.parametrize(("duration_s", "lanes", "count"), [
    (7200, 1, 13),   # 12 x 600 s would leave no room to move a cut to a silence
    (7200, 4, 16),   # rounded up to four rounds of four lanes, chunks of 450 s
    (1780, 1, 3),    # 593 s chunks still leave a 6.7 s window
    (1780, 4, 4),
    (700, 4, 2),     # 4 chunks would be under half of 600 s
])
def test_chunk_count_leaves_room_for_the_cut_and_fills_the_lanes(duration_s, lanes, count):
    assert chunk_count(duration_s * 1000, 600_000, lanes=lanes) == count
    ranges = plan_chunks(duration_s * 1000, [], 600_000, lanes=lanes)
    assert len(ranges) == count and max(c.end_ms - c.start_ms for c in ranges) <= 600_000


@pytest.mark.parametrize("seed", range(20))
def test_plan_covers_the_recording_in_chunks_within_the_limit(seed):
    rng = random.Random(seed)
    duration = rng.randint(1_000, 4 * 3600_000)
    chunk_ms = rng.choice([30_000, 600_000, 1_200_000])
    silences, t = [], 0
    while t < duration:
        t += int(rng.expovariate(1 / rng.choice([5_000, 60_000, 900_000])))
        silence = (t, min(duration, t + rng.randint(400, 3_000)))
        t = silence[1]
        silences.append(silence)
    lanes = rng.choice([1, 4])
    ranges = plan_chunks(duration, silences, chunk_ms, lanes=lanes)
    assert ranges == plan_chunks(duration, silences, chunk_ms, lanes=lanes)
    assert [chunk.index for chunk in ranges] == list(range(len(ranges)))
    assert ranges[0].start_ms == 0 and ranges[-1].end_ms == duration
    assert all(0 < chunk.end_ms - chunk.start_ms <= min(chunk_ms, MAX_CHUNK_MS) for chunk in ranges)
    for before, after in pairwise(ranges):
        if after.start_ms == before.end_ms:  # cut at a silence
            assert any(start < before.end_ms < end for start, end in silences)
        else:  # cut at the boundary, overlapped
            assert before.end_ms - after.start_ms == 2_000


def test_plan_caps_chunks_so_their_flac_fits_the_api():
    ranges = plan_chunks(3_600_000, [], 3_600_000)
    assert len(ranges) == 5
    assert max(chunk.end_ms - chunk.start_ms for chunk in ranges) <= MAX_CHUNK_MS


def test_plan_rejects_what_it_cannot_plan():
    with pytest.raises(ValueError):
        plan_chunks(0, [], 600_000)
    with pytest.raises(ValueError):
        plan_chunks(1_000_000, [], 600_000, overlap_ms=300_000)


def test_planning_by_seeking_cuts_where_planning_the_whole_decode_does(recording, prepared):
    """plan_recording decodes only the windows around each boundary, and finds the same cuts."""
    _, path = recording
    info = probe(path)
    assert info.seekable
    # 180 s in chunks of at most 50 s: four of 45 s, searched 5 s wide; 45 s is inside the
    # continuous speech of 40-70 s.
    by_seeking = plan_recording(path, info, 50_000, search_window_ms=10_000)
    whole = plan_chunks(prepared.duration_ms, prepared.silences, 50_000, search_window_ms=10_000)
    assert len(by_seeking) == len(whole) >= 3
    for seeked, decoded in zip(by_seeking, whole):
        assert abs(seeked.start_ms - decoded.start_ms) <= 30 and abs(seeked.end_ms - decoded.end_ms) <= 50
    overlapped = [(a, b) for a, b in pairwise(by_seeking) if b.start_ms < a.end_ms]
    assert overlapped, "the continuous speech at 40-70 s forces an overlapped cut"


def test_mp3_files_are_chunked_as_their_own_frames_and_everything_else_as_flac(short_files):
    formats = {kind: chunk_format(probe(path)) for kind, path in short_files.items()}
    assert formats == {"mp3": "mp3", "m4a": "flac", "wav": "flac", "webm": "flac", "ogg": "flac", "flac": "flac",
                       "mp4": "flac"}


def test_copied_mp3_chunks_hold_every_word_once_at_the_sources_quality(recording, tmp_path):
    from transcription.seams import merge_chunk_texts

    script, path = recording
    ranges = plan_recording(path, probe(path), 50_000, search_window_ms=10_000)
    files = [export_chunk(path, chunk, tmp_path / f"chunk-{chunk.index}", "mp3") for chunk in ranges]
    assert [file.suffix for file in files] == [".mp3"] * len(ranges)
    for chunk, file in zip(ranges, files):
        header = ffmpeg_header(file)
        assert "Audio: mp3" in header and "44100 Hz, stereo" in header, "frames copied, not re-encoded"
        assert probe(file).duration_ms == pytest.approx(chunk.end_ms - chunk.start_ms, abs=60)
    texts = [(chunk, words_text(decode_dtmf_file(file))) for chunk, file in zip(ranges, files)]
    assert merge_chunk_texts(texts) == words_text(script)


def test_a_copied_chunk_of_a_truncated_mp3_fails_where_the_file_stops(short_files, tmp_path):
    data = short_files["mp3"].read_bytes()
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(InvalidAudioError, match=r"^The audio could not be decoded past 0:1[12]; the file may be"):
        export_chunk(truncated, ChunkRange(1, 8_000, probe(truncated).duration_ms), tmp_path / "broken", "mp3")
    assert not list(tmp_path.glob("broken*")), "no partial chunk is left"


def test_copied_frames_over_the_size_limit_are_sent_as_flac_instead(short_files, tmp_path, monkeypatch):
    # 10 s of a 128 kbps MP3 is 160 kB: over this limit, as a 320 kbps chunk of 10 minutes is over the real one.
    monkeypatch.setattr("transcription.audio.MAX_CHUNK_BYTES", 100_000)
    path = export_chunk(short_files["mp3"], ChunkRange(0, 0, 10_000), tmp_path / "chunk", "mp3")
    assert path == tmp_path / "chunk.flac"
    assert words_text(decode_dtmf_file(path)) == words_text(w for w in SHORT_SCRIPT if w.end_ms <= 10_000)
    assert [file.name for file in tmp_path.iterdir()] == ["chunk.flac"]


def test_chunks_cut_straight_from_the_source_hold_every_word_once(recording, tmp_path):
    from transcription.seams import merge_chunk_texts

    script, path = recording
    ranges = plan_recording(path, probe(path), 50_000, search_window_ms=10_000)
    texts = [(chunk, words_text(decode_dtmf_file(file))) for chunk, file in export_chunks(path, ranges, tmp_path)]
    assert merge_chunk_texts(texts) == words_text(script)


# Constant-bitrate MP3s are cut by byte ranges of their frames (transcription/mp3_frames.py).


def test_a_constant_bitrate_mp3_chunk_is_its_own_frames_byte_for_byte(short_files, tmp_path):
    from transcription.mp3_frames import ConstantBitrateMp3

    source = short_files["mp3"]
    frames = ConstantBitrateMp3.open(source)
    assert frames is not None and frames.skipped_samples == 1105  # LAME's usual delay, from its tag
    path = export_chunk(source, ChunkRange(1, 6_000, 14_000), tmp_path / "chunk", "mp3")
    data = path.read_bytes()
    assert data[:2] == b"\xff\xfb" and data in source.read_bytes(), "whole frames of the source, nothing else"
    assert probe(path).duration_ms == pytest.approx(8_000, abs=30)
    assert words_text(decode_dtmf_file(path)) == words_text(w for w in SHORT_SCRIPT if 6_000 <= w.start_ms < 14_000)


def test_a_byte_copied_chunk_starts_where_ffmpeg_seeking_puts_it(short_files, tmp_path):
    """On the decoded timeline (after the encoder's delay) to within half a frame (13 ms)."""
    import numpy

    source = short_files["mp3"]
    path = export_chunk(source, ChunkRange(1, 7_300, 12_000), tmp_path / "chunk", "mp3")
    exact = numpy.frombuffer(pcm_of_range(source, 7_300, 4_000), dtype=numpy.int16).astype(float)
    copied = numpy.frombuffer(pcm_of(path)[: 4_000 * 32], dtype=numpy.int16).astype(float)
    margin = 50 * 16  # 50 ms of samples either way
    lag_samples = numpy.argmax(numpy.correlate(exact, copied[margin:-margin], "valid")) - margin
    assert abs(lag_samples) <= 13 * 16


def pcm_of_range(path, start_ms: int, length_ms: int) -> bytes:
    command = [ffmpeg_binary(), "-v", "error", "-ss", f"{start_ms / 1000}", "-t", f"{length_ms / 1000}", "-i",
               str(path), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True).stdout


def test_variable_bitrate_and_damaged_mp3s_are_copied_by_ffmpeg(tmp_path):
    from transcription.mp3_frames import ConstantBitrateMp3

    vbr = write_audio(tmp_path / "vbr.mp3", SHORT_SCRIPT, SHORT_S, sample_rate=44100, channels=2,
                      codec_args=["-q:a", "4"])  # fmt: skip
    assert ConstantBitrateMp3.open(vbr) is None, "no frame lies where a constant bitrate would put it"
    path = export_chunk(vbr, ChunkRange(1, 6_000, 14_000), tmp_path / "vbr-chunk", "mp3")
    assert path.suffix == ".mp3"
    assert words_text(decode_dtmf_file(path)) == words_text(w for w in SHORT_SCRIPT if 6_000 <= w.start_ms < 14_000)

    cbr = write_audio(tmp_path / "cbr.mp3", SHORT_SCRIPT, SHORT_S, sample_rate=44100, channels=2,
                      codec_args=["-b:a", "128k"])  # fmt: skip
    data = bytearray(cbr.read_bytes())
    frames = ConstantBitrateMp3.open(cbr)
    middle = frames.audio_start + round(380 * frames.mean_frame_bytes)  # a frame header 10 s in
    data[middle : middle + 4] = b"\x00\x00\x00\x00"
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    assert frames.copy(6_000, 14_000, tmp_path / "clean.mp3") is not None
    assert ConstantBitrateMp3.open(damaged).copy(6_000, 14_000, tmp_path / "never.mp3") is None
