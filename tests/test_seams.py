"""Seams between chunks: no word lost, none doubled, on texts and on real cut DTMF audio."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.support.audio_files import write_audio
from tests.support.dtmf import Word, decode_dtmf_file, dtmf_script, words_text
from transcription.audio import ChunkRange, export_chunks, plan_chunks, prepare
from transcription.seams import merge_chunk_texts, seam


def test_chunks_cut_at_silence_are_joined_as_they_are():
    # No overlap: a repeated word across the seam was said twice and stays twice.
    chunks = [(ChunkRange(0, 0, 10_000), "and then the"), (ChunkRange(1, 10_000, 20_000), "the end")]
    assert merge_chunk_texts(chunks) == "and then the the end"


def test_chunks_are_merged_in_index_order():
    chunks = [(ChunkRange(1, 10_000, 20_000), "world"), (ChunkRange(0, 0, 10_000), "hello")]
    assert merge_chunk_texts(chunks) == "hello world"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("we met on the first day of spring", "first day of spring and talked"),  # clean overlap
        ("we met on the first day of spr", "the first day of spring and talked"),  # word cut at the end
        ("we met on the first day of spring", "rst day of spring and talked"),  # word cut at the start
        ("we met on the first day of spring", "day of spring and talked"),  # edge word dropped
        ("We met on the first day of spring.", "First day of spring, and talked"),  # case and punctuation
    ],
)
def test_overlapped_seam_keeps_every_word_once(before, after):
    chunks = [(ChunkRange(0, 0, 10_000), before), (ChunkRange(1, 8_000, 18_000), after)]
    merged = merge_chunk_texts(chunks)
    assert merged.lower().replace(".", "").replace(",", "") == "we met on the first day of spring and talked"


def test_overlap_split_by_a_garbled_word_is_still_found():
    before = "one two three four five six seven eight".split()
    after = "five sux seven eight nine ten".split()
    keep, skip = seam(before, after)
    assert before[:keep] + after[skip:] == "one two three four five six seven eight nine ten".split()


def test_without_a_shared_word_nothing_is_dropped():
    chunks = [(ChunkRange(0, 0, 10_000), "alpha beta gamma"), (ChunkRange(1, 8_000, 18_000), "delta epsilon")]
    assert merge_chunk_texts(chunks) == "alpha beta gamma delta epsilon"


def test_a_distant_chance_match_is_not_taken_for_the_overlap():
    before = "the cat sat on a mat by the door of an old house".split()
    after = "walls and roof the cat liked".split()  # shares "the cat" but far from both edges
    assert seam(before, after) == (len(before), 0)


def test_empty_chunk_texts_are_skipped():
    chunks = [
        (ChunkRange(0, 0, 10_000), ""),
        (ChunkRange(1, 8_000, 18_000), "words"),
        (ChunkRange(2, 16_000, 20_000), ""),
    ]
    assert merge_chunk_texts(chunks) == "words"


# On real audio: plan -> export -> decode each chunk's FLAC -> merge == the script.

DURATION_S = 75
CHUNK_MS = 30_000
# 75 s in chunks of at most 30 s: three equal chunks, boundaries at 25 s and 50 s. Speech runs
# on without a pause from 10 s to 50 s, so the window around 25 s holds no silence and the
# chunks overlap there.
BOUNDARY_MS = 25_000
NO_PAUSE = [(10.0, 50.0)]


def transcribe_chunks(source, workdir, chunk_ms: int) -> tuple[list[ChunkRange], list[tuple[ChunkRange, str]]]:
    prepared = prepare(source, workdir)
    ranges = plan_chunks(prepared.duration_ms, prepared.silences, chunk_ms)
    exported = export_chunks(prepared.wav_path, ranges, workdir)
    texts = [(chunk, words_text(decode_dtmf_file(path))) for chunk, path in exported]
    return ranges, texts


@pytest.mark.parametrize("cut_fraction", [0.3, 0.5, 0.8], ids=["30%", "50%", "80%"])
def test_word_straddling_the_boundary_appears_exactly_once(tmp_path, cut_fraction):
    script = dtmf_script(DURATION_S - 1, seed=21, no_pause=NO_PAUSE)
    # Delay the script (by less than one word) so that the naive 25 s boundary cuts a word
    # at `cut_fraction` of its length.
    cut_at = [round(w.start_ms + cut_fraction * (w.end_ms - w.start_ms)) for w in script]
    shift = BOUNDARY_MS - max(at for at in cut_at if at <= BOUNDARY_MS)
    shifted = [Word(w.text, w.start_ms + shift, w.end_ms + shift) for w in script]
    source = write_audio(tmp_path / "speech.mp3", shifted, DURATION_S, sample_rate=44100, channels=2, noise_db=-55)

    ranges, texts = transcribe_chunks(source, tmp_path, CHUNK_MS)

    first, second = ranges[0], ranges[1]
    # The boundary is a third of the measured duration (within the codec's padding of 75 s).
    assert abs(first.end_ms - BOUNDARY_MS) <= 30
    assert second.start_ms == first.end_ms - 2_000  # overlapped, not cut at silence
    word = next(w for w in shifted if w.start_ms < first.end_ms < w.end_ms)
    assert word.start_ms >= second.start_ms  # whole in the second chunk
    by_index = {chunk.index: text for chunk, text in texts}
    assert merge_chunk_texts(texts) == words_text(shifted)
    if cut_fraction == 0.8:  # most of it is in the first chunk too: naive joining would double it
        assert " ".join(by_index[i] for i in sorted(by_index)) != words_text(shifted)


def test_chunks_cut_at_silences_lose_and_double_nothing(tmp_path):
    script = dtmf_script(DURATION_S, seed=22)
    source = write_audio(tmp_path / "speech.m4a", script, DURATION_S, sample_rate=48000, noise_db=-55)

    ranges, texts = transcribe_chunks(source, tmp_path, 20_000)

    assert len(ranges) >= 4
    assert all(before.end_ms == after.start_ms for before, after in pairwise(ranges))
    assert merge_chunk_texts(texts) == words_text(script)
