"""Timed transcripts: segments merged across seams, and the SRT, WebVTT, JSON and Word writers."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from tests.support.subtitles import assert_valid_timeline, parse_subtitles
from transcription.audio import ChunkRange
from transcription.formats import (
    MAX_CUE_CHARS,
    TranscriptInfo,
    format_timestamp,
    subtitle_cues,
    to_docx,
    to_json,
    to_srt,
    to_vtt,
)
from transcription.seams import merge_chunk_segments, merge_chunk_texts
from transcription.segments import TimedSegment, chunk_segments

INFO = TranscriptInfo(transcription_id=7, recording_name="Board meeting.mp3", duration_ms=20_000, engine="openai",
                      model="whisper-1", uploaded_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC))


@pytest.mark.parametrize(("ms", "srt", "vtt"), [
    (0, "00:00:00,000", "00:00:00.000"),
    (3_723_004, "01:02:03,004", "01:02:03.004"),
    (10 * 3_600_000 + 59_999, "10:00:59,999", "10:00:59.999"),
    (-5, "00:00:00,000", "00:00:00.000"),
])
def test_timestamps(ms, srt, vtt):
    assert format_timestamp(ms) == srt
    assert format_timestamp(ms, ".") == vtt


def test_srt_is_numbered_cues_with_comma_times():
    segments = [TimedSegment(1_000, 2_500, "Hello there."), TimedSegment(3_000, 4_000, "General --> Kenobi")]
    assert to_srt(segments, 20_000) == (
        "1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nGeneral -> Kenobi\n")


def test_vtt_has_its_header_dot_times_and_escaped_text():
    segments = [TimedSegment(61_000, 62_000, "Tom & Jerry <3")]
    assert to_vtt(segments, 70_000) == "WEBVTT\n\n1\n00:01:01.000 --> 00:01:02.000\nTom &amp; Jerry &lt;3\n"


def test_a_long_segment_becomes_short_cues_with_every_word_in_order():
    # A text-only model: one segment spans a whole 10-minute chunk.
    words = [f"word{n}" for n in range(1500)]
    chunk = TimedSegment(600_000, 1_200_000, " ".join(words))
    for kind, content in (("srt", to_srt([chunk], 1_200_000)), ("vtt", to_vtt([chunk], 1_200_000))):
        cues = parse_subtitles(content, kind)
        assert_valid_timeline(cues, 1_200_000, max_cue_ms=7_500)
        assert " ".join(cue.text for cue in cues).split() == words
        assert all(len(cue.text) <= MAX_CUE_CHARS + 1 for cue in cues)
        assert cues[0].start_ms == 600_000 and cues[-1].end_ms == 1_200_000


def test_cues_never_overlap_run_backwards_or_pass_the_end():
    segments = [
        TimedSegment(0, 5_000, "one two three"),
        TimedSegment(4_000, 6_000, "four five"),  # starts before the previous one ends
        TimedSegment(6_000, 6_000, "six"),  # no length at all
        TimedSegment(9_500, 11_000, "seven"),  # runs past the end
        TimedSegment(12_000, 13_000, "eight"),  # starts past the end
    ]
    cues = subtitle_cues(segments, 10_000)
    content = to_srt(segments, 10_000)
    parsed = parse_subtitles(content, "srt")
    assert_valid_timeline(parsed, 10_000)
    assert " ".join(" ".join(cue.lines) for cue in cues).split() == "one two three four five six seven eight".split()
    assert parsed[-1].end_ms == 10_000


def test_no_segments_make_empty_but_valid_files():
    assert to_srt([], 1000) == ""
    assert to_vtt([], 1000) == "WEBVTT\n"
    assert parse_subtitles(to_vtt([], 1000), "vtt") == []


def test_a_few_words_over_a_long_time_are_one_cue_that_does_not_stay_up_for_it_all():
    (cue,) = subtitle_cues([TimedSegment(60_000, 120_000, "a short remark")], 180_000)
    assert (cue.start_ms, cue.end_ms, cue.lines) == (60_000, 67_000, ("a short remark",))


def test_two_lines_at_most_broken_in_balance():
    text = "the quarterly figures were discussed at length by everyone present"
    (cue,) = subtitle_cues([TimedSegment(0, 4_000, text)], 10_000)
    assert len(cue.lines) == 2 and " ".join(cue.lines) == text
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) < 12


def test_json_has_segments_with_times_and_the_metadata():
    segments = [TimedSegment(0, 1_500, "Hello."), TimedSegment(19_000, 21_000, "Bye.")]
    document = json.loads(to_json(segments, "Hello. Bye.", INFO))
    assert document["recording"] == {"name": "Board meeting.mp3", "duration_ms": 20_000, "duration": "0:20",
                                     "uploaded_at": "2026-11-28T09:30:00+00:00"}
    assert document["transcription"] == {"id": 7, "engine": "openai", "model": "whisper-1", "timing": "segments"}
    assert document["text"] == "Hello. Bye."
    assert document["segments"] == [
        {"id": 0, "start": 0.0, "end": 1.5, "start_ms": 0, "end_ms": 1500, "text": "Hello."},
        {"id": 1, "start": 19.0, "end": 20.0, "start_ms": 19_000, "end_ms": 20_000, "text": "Bye."},
    ], "the last end is clamped to the recording's length"


def test_docx_holds_the_title_and_one_timed_paragraph_per_segment():
    from docx import Document

    segments = [TimedSegment(0, 1_500, "Hello."), TimedSegment(15_000, 16_000, "Still here.")]
    document = Document(io.BytesIO(to_docx(segments, INFO)))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "Board meeting.mp3"
    assert "openai (whisper-1)" in paragraphs[1] and "0:20 long" in paragraphs[1]
    assert paragraphs[2:] == ["[0:00]  Hello.", "[0:15]  Still here."]
    assert document.core_properties.title == "Board meeting.mp3"


def test_chunk_segments_are_the_engines_or_one_per_chunk():
    stored = json.dumps([[600_000, 601_000, " Hello"], [601_500, 602_000, "  "], [602_000, 603_000, "again"]])
    assert chunk_segments(600_000, 1_200_000, "Hello again", stored) == [
        TimedSegment(600_000, 601_000, "Hello"), TimedSegment(602_000, 603_000, "again")]
    assert chunk_segments(600_000, 1_200_000, " text only ", "[]") == [TimedSegment(600_000, 1_200_000, "text only")]
    assert chunk_segments(0, 1000, "", "[]") == [] and chunk_segments(0, 1000, None, None) == []


def test_segments_of_chunks_cut_at_silence_are_concatenated():
    first = [TimedSegment(0, 4_000, "and then the"), TimedSegment(5_000, 9_000, "meeting")]
    second = [TimedSegment(10_000, 12_000, "the end")]
    merged = merge_chunk_segments([(ChunkRange(1, 10_000, 20_000), second), (ChunkRange(0, 0, 10_000), first)])
    assert merged == [*first, *second]


def test_an_overlapped_seam_keeps_each_segment_once_with_times_for_the_words_kept():
    # Chunk 0 ends at 10 s, chunk 1 starts at 8 s: "day of spring" was heard by both.
    first = [TimedSegment(0, 4_000, "we met on"), TimedSegment(5_000, 10_000, "the first day of spring")]
    second = [TimedSegment(8_000, 11_000, "day of spring and"), TimedSegment(12_000, 14_000, "talked")]
    merged = merge_chunk_segments([(ChunkRange(0, 0, 10_000), first), (ChunkRange(1, 8_000, 18_000), second)])
    assert " ".join(s.text for s in merged) == "we met on the first day of spring and talked"
    assert merged[0] == first[0]
    # The seam falls in the middle of the shared run: "the first day" from chunk 0, "of spring and" from chunk 1.
    assert merged[1] == TimedSegment(5_000, 8_000, "the first day")
    assert merged[2] == TimedSegment(8_750, 11_000, "of spring and")
    assert merged[3] == second[1]
    starts = [s.start_ms for s in merged]
    assert starts == sorted(starts)


def test_the_text_merge_is_the_segment_merge_joined():
    chunks = [(ChunkRange(0, 0, 10_000), "we met on the first day of spr"),
              (ChunkRange(1, 8_000, 18_000), "the first day of spring and talked")]
    timed = [(chunk, chunk_segments(chunk.start_ms, chunk.end_ms, text, "[]")) for chunk, text in chunks]
    assert merge_chunk_texts(chunks) == " ".join(s.text for s in merge_chunk_segments(timed))
    assert merge_chunk_texts(chunks) == "we met on the first day of spring and talked"


@pytest.mark.parametrize(("ms", "words"), [
    (0, "under a minute"), (29_000, "under a minute"), (90_000, "about 2 min"),
    (59 * 60_000, "about 59 min"), (3_600_000, "about 1 h"), (4_800_000, "about 1 h 20 min"),
])
def test_rough_durations(ms, words):
    from transcription.formats import format_rough_duration

    assert format_rough_duration(ms) == words
