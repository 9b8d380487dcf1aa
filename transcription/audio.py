"""Audio files through ffmpeg: probe an upload, decode it to a working WAV, plan
chunks cut at silences, and export each chunk (16 kHz mono FLAC, or an MP3
source's own frames).

Everything streams through ffmpeg, so memory does not grow with the length of
the recording: the only things held in memory are the list of silences and one
read buffer.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import threading
import wave
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from transcription.ffmpeg import ffmpeg_binary
from transcription.mp3_frames import ConstantBitrateMp3, has_seek_table

log = logging.getLogger(__name__)

__all__ = [
    "AudioInfo",
    "ChunkExport",
    "ChunkPlan",
    "chunk_count",
    "chunk_format",
    "ChunkRange",
    "InvalidAudioError",
    "PreparedAudio",
    "export_chunk",
    "export_chunks",
    "ffmpeg_binary",
    "plan_chunks",
    "plan_recording",
    "plan_recording_stepwise",
    "prepare",
    "probe",
]

SAMPLE_RATE = 16000  # Whisper works at 16 kHz mono; every chunk is encoded so
SAMPLE_BYTES = 2
BYTES_PER_MS = SAMPLE_RATE * SAMPLE_BYTES // 1000
# The API refuses files over 25 MB; keep a margin under either reading of "MB".
MAX_CHUNK_BYTES = 24_000_000
# FLAC never stores more than the raw samples (a frame falls back to verbatim) plus
# frame and subframe headers, well under 1 %; the stream header is 8 KiB at most.
FLAC_WORST_CASE_OVERHEAD = 1.01
FLAC_HEADER_BYTES = 8192
MAX_CHUNK_MS = int((MAX_CHUNK_BYTES - FLAC_HEADER_BYTES) / FLAC_WORST_CASE_OVERHEAD / BYTES_PER_MS)

PROBE_SECONDS = 5
# A cut may move this far from its boundary at least, looking for a silence.
MIN_SEARCH_WINDOW_MS = 4_000
SILENCE_DB = -35.0  # below this (dBFS) a stretch counts as silence ...
MIN_SILENCE_MS = 400  # ... if it lasts this long: longer than a pause between words
# A container's stated duration may exceed what decodes by a codec's padding, not by more.
TRUNCATION_TOLERANCE_MS = 2000
# Copied frames end on a frame boundary, up to one frame (72 ms at most, for MP3) from the cut.
COPY_TOLERANCE_MS = 100
# Decoding reads the pipe in blocks of this many bytes (a second of 16 kHz mono audio).
READ_BYTES = SAMPLE_RATE * SAMPLE_BYTES
# Downmix before resampling (half the work), and 16-bit samples whatever the source's format.
TO_16K_MONO = f"aformat=channel_layouts=mono,aresample={SAMPLE_RATE},aformat=sample_fmts=s16"
# Decoded audio leaves ffmpeg in frames of half a second: far fewer writes to the pipe than
# a codec's own frames (an MP3 frame is 26 ms), which costs more system time than decoding.
PIPE_FRAMES = f"asetnsamples=n={SAMPLE_RATE // 2}:p=0"
# FLAC blocks of 4608 samples whatever the source's frames: small blocks would cost size.
FLAC = ["-c:a", "flac", "-frame_size", "4608", "-f", "flac"]
# What ffmpeg writes a chunk with, by chunk format (also the chunk file's extension).
CHUNK_OUTPUT = {
    "flac": ["-af", TO_16K_MONO, *FLAC],
    # No Xing/LAME header: it would carry the source's encoder delay, and a decoder would
    # drop that much from the start of a chunk cut from the middle, shifting its timeline.
    "mp3": ["-c:a", "copy", "-write_xing", "0", "-f", "mp3"],
}
# The WAV demuxer reads 4 KiB packets by default; 32 KiB ones cut ffmpeg's CPU time by half
# or more (less handing over between its threads); larger ones gain nothing and cost memory.
WAV_PACKET_BYTES = 32768
# A WAV's header says all there is to know about its stream, yet ffmpeg reads 5 MB of
# packets to find out: 50 ms of every ffmpeg that opens one. Two packets will do.
WAV_INPUT = ["-max_size", str(WAV_PACKET_BYTES), "-probesize", str(2 * WAV_PACKET_BYTES)]
# ffmpeg seeks in an MP3 by reading every frame before the point: a fifth of a second of CPU
# near the end of a 2-hour file, for every window planned. With the file's seek table, or its
# bitrate if constant, it lands within a frame or two (up to 45 ms off, measured on constant and
# variable bitrates): harmless for finding silences of 400 ms or more to cut in the middle of,
# not for cutting chunks, whose timeline subtitles are built on.
MP3_FAST_SEEK = ["-fflags", "+fastseek"]
# At most this many windows, or chunks, are decoded side by side.
MAX_SIDE_BY_SIDE = 4
CUT_NICENESS = 10
# Uploads are untrusted: let ffmpeg read only local files, and only with the demuxers of the
# accepted types (mp3, m4a/mp4, wav, webm, ogg, flac), never playlists or other exotic formats.
SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", "mp3,mov,wav,matroska,ogg,flac"]


class InvalidAudioError(ValueError):
    """The file is not audio we can transcribe; the message is shown to users as-is."""


NOT_AUDIO = "This file is not audio we can read."
NO_AUDIO_TRACK = "The file contains no audio track."
EMPTY_RECORDING = "The recording is empty (0 seconds)."
EMPTY_FILE = "The file is empty."


def too_long(max_duration_ms: int, duration_ms: int | None = None) -> str:
    """The message for a recording over the limit; its length only if the container states it."""
    lasts = f" (it lasts {_clock(duration_ms)})" if duration_ms is not None else ""
    return (f"The recording is longer than {_clock(max_duration_ms)}, the longest this server accepts{lasts}. "
            "Split it into parts and upload each.")


def _undecodable_past(ms: int) -> str:
    return f"The audio could not be decoded past {_clock(ms)}; the file may be truncated or corrupt."


def _clock(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass(frozen=True)
class AudioInfo:
    """What probing found: duration, and the first audio stream's codec, rate and channels."""

    duration_ms: int
    codec: str
    sample_rate: int
    channels: int
    container: str
    # The container states its duration, so chunks can be cut straight from it by seeking;
    # otherwise (a live-streamed webm) the duration was measured by decoding it all.
    seekable: bool = True


@dataclass(frozen=True)
class ChunkRange:
    """One chunk of a recording, in ms; `end_ms` includes any overlap with the next chunk."""

    index: int
    start_ms: int
    end_ms: int


@dataclass
class PreparedAudio:
    """A recording decoded to a 16 kHz mono WAV, with its exact duration and its silences (ms)."""

    wav_path: Path
    duration_ms: int
    silences: list[tuple[int, int]]


def _input(path: Path, *, fast_seek: bool = False) -> list[str]:
    """ffmpeg's options and `-i` for reading `path` safely (and a WAV in large packets); with
    `fast_seek`, an MP3 with a seek table is seeked by it (see MP3_FAST_SEEK)."""
    with open(path, "rb") as file:
        head = file.read(12)
        is_wav = head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"
        seeks_fast = fast_seek and not is_wav and has_seek_table(file, head)
    return [*SAFE_INPUT, *(WAV_INPUT if is_wav else []), *(MP3_FAST_SEEK if seeks_fast else []), "-i", str(path)]


@dataclass
class _Decoded:
    """What one ffmpeg decode of `path` reported: exit status, samples, input header, silences, last lines."""

    path: Path
    returncode: int = 0
    samples: int = 0
    header: list[str] = field(default_factory=list)
    silences: list[tuple[int, int]] = field(default_factory=list)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def ms(self) -> int:
        return self.samples * 1000 // SAMPLE_RATE

    def stated_duration_ms(self) -> int | None:
        """The duration the container states, or None if it states none or only guesses."""
        text = "\n".join(self.header)
        match = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
        if match is None or "Estimating duration from bitrate" in text:
            return None
        hours, minutes, seconds = match.groups()
        return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)

    def invalid(self, message: str) -> InvalidAudioError:
        """The error for users; what ffmpeg said goes to the log, for whoever investigates."""
        log.warning("%s rejected: %s ffmpeg said:\n%s", self.path, message, "\n".join(self.tail))
        return InvalidAudioError(message)


def _decode(
    path: Path,
    sink: Callable[[bytes], object] | None = None,
    *,
    start_ms: int = 0,
    seconds: float | None = None,
    detect_silence: bool = False,
    niceness: int = 0,
) -> _Decoded:
    """Decode the first audio stream of `path` to 16 kHz mono s16le, passing blocks to `sink`.

    Streams: ffmpeg writes to a pipe read a block at a time; its log is read by a
    thread beside, keeping only the input header, silences and the last lines.
    """
    filters = [TO_16K_MONO, PIPE_FRAMES]
    if detect_silence:
        filters.append(f"silencedetect=noise={SILENCE_DB}dB:d={MIN_SILENCE_MS / 1000}")
    command = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats",
        *(["-ss", f"{start_ms / 1000:.3f}"] if start_ms else []), *_input(path, fast_seek=detect_silence),
        "-map", "0:a:0", *(["-t", str(seconds)] if seconds else []), "-af", ",".join(filters),
        "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    decoded = _Decoded(path)
    received = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        if niceness:
            _lower_priority(process.pid, niceness)
        log_reader = threading.Thread(target=_read_log, args=(process.stderr, decoded), daemon=True)
        log_reader.start()
        while block := process.stdout.read(READ_BYTES):
            received += len(block)
            if sink is not None:
                sink(block)
        log_reader.join()
    decoded.returncode = process.returncode
    decoded.samples = received // SAMPLE_BYTES
    if decoded.silences and decoded.silences[-1][1] < 0:  # silent to the very end
        decoded.silences[-1] = (decoded.silences[-1][0], decoded.ms)
    return decoded


SILENCE_START = re.compile(r"silence_start: (-?[\d.]+)")
SILENCE_END = re.compile(r"silence_end: (-?[\d.]+)")


def _read_log(stream, decoded: _Decoded) -> None:
    in_header = True
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        decoded.tail.append(line)
        if in_header:
            in_header = not line.startswith(("Stream mapping:", "Output #0", "Press [q]"))
            if in_header:
                decoded.header.append(line)
        if start := SILENCE_START.search(line):
            decoded.silences.append((max(0, round(float(start.group(1)) * 1000)), -1))
        elif (end := SILENCE_END.search(line)) and decoded.silences:
            decoded.silences[-1] = (decoded.silences[-1][0], round(float(end.group(1)) * 1000))


def _audio_stream_line(decoded: _Decoded) -> str | None:
    return next((line for line in decoded.header if re.search(r"Stream #0:\d+.*: Audio: ", line)), None)


def _check_decoded(decoded: _Decoded) -> None:
    """Raise InvalidAudioError if ffmpeg could not open the file or found no audio in it."""
    if not any(line.startswith("Input #0") for line in decoded.header):
        raise decoded.invalid(NOT_AUDIO)
    if _audio_stream_line(decoded) is None:
        raise decoded.invalid(NO_AUDIO_TRACK)
    if decoded.returncode != 0 and decoded.samples == 0:
        raise decoded.invalid(NOT_AUDIO)


def probe(path: str | Path, max_duration_ms: int | None = None) -> AudioInfo:
    """Describe the audio in `path`, proving that it decodes; raise InvalidAudioError if not.

    Decodes only the first seconds when the container states its duration;
    otherwise (e.g. a browser's MediaRecorder webm) decodes it to measure it, but
    not past `max_duration_ms`: a small file can decode to days of silence.
    A recording longer than `max_duration_ms` is refused.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise InvalidAudioError(EMPTY_FILE)
    decoded = _decode(path, seconds=PROBE_SECONDS)
    _check_decoded(decoded)
    duration_ms = decoded.stated_duration_ms()
    if decoded.samples == 0:
        raise decoded.invalid(_undecodable_past(0) if duration_ms else EMPTY_RECORDING)
    if max_duration_ms is not None and duration_ms is not None and duration_ms > max_duration_ms:
        raise InvalidAudioError(too_long(max_duration_ms, duration_ms))
    seekable = duration_ms is not None
    if duration_ms is None:
        measured = _decode(path, seconds=_decode_limit_seconds(max_duration_ms))
        if measured.returncode != 0:
            raise measured.invalid(_undecodable_past(measured.ms))
        if max_duration_ms is not None and measured.ms > max_duration_ms:
            raise InvalidAudioError(too_long(max_duration_ms))
        duration_ms = measured.ms
    if duration_ms == 0:
        raise decoded.invalid(EMPTY_RECORDING)
    return AudioInfo(duration_ms=duration_ms, container=_container(decoded), seekable=seekable,
                     **_stream_facts(decoded))


def _decode_limit_seconds(max_duration_ms: int | None) -> float | None:
    """Decode one second past the limit, so that reaching it shows the recording is too long."""
    return None if max_duration_ms is None else max_duration_ms / 1000 + 1


def _container(decoded: _Decoded) -> str:
    match = re.search(r"^Input #0, (.+?), from '", "\n".join(decoded.header), re.MULTILINE)
    return match.group(1) if match else ""


CHANNELS_BY_LAYOUT = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8}


def _stream_facts(decoded: _Decoded) -> dict:
    line = _audio_stream_line(decoded) or ""
    codec = re.search(r"Audio: ([\w-]+)", line)
    rate = re.search(r", (\d+) Hz", line)
    layout = re.search(r" Hz, ([^,]+)", line)
    return {
        "codec": codec.group(1) if codec else "",
        "sample_rate": int(rate.group(1)) if rate else 0,
        "channels": _channel_count(layout.group(1)) if layout else 0,
    }


def _channel_count(layout: str) -> int:
    """Channels in an ffmpeg layout name: "mono", "5.1(side)", "3 channels", ..."""
    if match := re.match(r"(\d+) channels", layout):
        return int(match.group(1))
    if match := re.match(r"(\d+)\.(\d+)", layout):
        return int(match.group(1)) + int(match.group(2))
    return CHANNELS_BY_LAYOUT.get(layout.split("(")[0].strip(), 0)


def prepare(source_path: str | Path, workdir: str | Path, max_duration_ms: int | None = None) -> PreparedAudio:
    """Decode `source_path` once into `workdir`/audio.wav (16 kHz mono s16), finding silences on the way.

    The duration is measured from the decode, not taken from the container. The
    WAV can be cut at exact samples, whatever the source's container. Raises
    InvalidAudioError if the source does not decode to its end, or if it decodes
    to more than `max_duration_ms` (decoding stops there: a container may state
    less than it holds, and the WAV must not fill the disk).
    """
    wav_path = Path(workdir) / "audio.wav"
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_BYTES)
        wav.setframerate(SAMPLE_RATE)
        decoded = _decode(Path(source_path), wav.writeframesraw, seconds=_decode_limit_seconds(max_duration_ms),
                          detect_silence=True)
    _check_decoded(decoded)
    if max_duration_ms is not None and decoded.ms > max_duration_ms:
        raise decoded.invalid(too_long(max_duration_ms))
    stated_ms = decoded.stated_duration_ms()
    if decoded.returncode != 0 or (stated_ms is not None and decoded.ms < stated_ms - TRUNCATION_TOLERANCE_MS):
        raise decoded.invalid(_undecodable_past(decoded.ms))
    if decoded.samples == 0:
        raise decoded.invalid(EMPTY_RECORDING)
    return PreparedAudio(wav_path=wav_path, duration_ms=decoded.ms, silences=decoded.silences)


def plan_chunks(
    duration_ms: int,
    silences: list[tuple[int, int]],
    chunk_ms: int,
    *,
    lanes: int = 1,
    overlap_ms: int = 2000,
    search_window_ms: int = 30_000,
) -> list[ChunkRange]:
    """Cut a recording of `duration_ms` into chunks of at most `chunk_ms`, deterministically.

    `chunk_ms` is capped at MAX_CHUNK_MS, so every chunk's FLAC stays under
    MAX_CHUNK_BYTES whatever the audio. The chunks are of equal length (see
    `chunk_count`); each cut goes in the middle of the silence nearest to its
    boundary within a window of up to `search_window_ms` around it. Where the
    window holds no silence the cut falls at the boundary and the next chunk
    starts `overlap_ms` earlier, so a word cut there is whole in one of the two.
    """

    def cuts(windows: list[tuple[int, int, int]]) -> Iterator[int | None]:
        return (_nearest_silence_middle(silences, lo, hi, target) for lo, target, hi in windows)

    return list(_plan(duration_ms, cuts, chunk_ms, lanes=lanes, overlap_ms=overlap_ms,
                      search_window_ms=search_window_ms).ranges)


def plan_recording(path: str | Path, info: AudioInfo, chunk_ms: int, **options: int) -> list[ChunkRange]:
    """Plan the chunks of a seekable recording without decoding all of it; see `plan_recording_stepwise`."""
    return list(plan_recording_stepwise(path, info, chunk_ms, **options).ranges)


@dataclass
class ChunkPlan:
    """A recording's chunks: how many (known at once), and the chunks themselves in order, each
    yielded as soon as the cuts on either side of it are found."""

    count: int
    ranges: Iterator[ChunkRange]


def plan_recording_stepwise(
    path: str | Path,
    info: AudioInfo,
    chunk_ms: int,
    *,
    lanes: int = 1,
    overlap_ms: int = 2000,
    search_window_ms: int = 30_000,
) -> ChunkPlan:
    """Plan the chunks of a seekable recording without decoding all of it.

    The same cuts as `plan_chunks`, but silences are looked for only in the
    window around each boundary, the windows decoded by seeking to them, in
    order: the first chunk of each lane is known in a fraction of a second, a
    2-hour file's last in about a second, so transcribing can start before
    planning ends. Chunks are cut straight from the file (`export_chunk`). Not
    for recordings whose container states no duration (`info.seekable` is
    False): prepare those.
    """
    path = Path(path)

    def cut_in(window: tuple[int, int, int], niceness: int) -> int | None:
        lo, target, hi = window
        decoded = _decode(path, start_ms=lo, seconds=(hi - lo) / 1000, detect_silence=True, niceness=niceness)
        silences = [(lo + start, lo + end) for start, end in decoded.silences]
        return _nearest_silence_middle(silences, lo, hi, target)

    def cuts(windows: list[tuple[int, int, int]]) -> Iterator[int | None]:
        # The first chunk of each lane is awaited; the second is cut while the first is with the
        # API, so its cut is needed soon after: one ffmpeg per lane finds these, up to the cores.
        awaited, next_round, later = windows[:lanes], windows[lanes : 2 * lanes], windows[2 * lanes :]
        with ThreadPoolExecutor(max_workers=min(_usable_cores(), lanes, MAX_SIDE_BY_SIDE)) as pool:
            niceness = [0] * len(awaited) + [CUT_NICENESS] * len(next_round)
            yield from pool.map(cut_in, awaited + next_round, niceness)
        # The others are found while the lanes cut and send those: batch work like their cutting,
        # one ffmpeg at a time, so planning holds no more memory than one.
        for window in later:
            yield cut_in(window, CUT_NICENESS)

    return _plan(info.duration_ms, cuts, chunk_ms, lanes=lanes, overlap_ms=overlap_ms,
                 search_window_ms=search_window_ms)


def chunk_count(duration_ms: int, chunk_ms: int, *, lanes: int = 1, overlap_ms: int = 2000,
                search_window_ms: int = 30_000) -> int:
    """How many equal chunks a recording is cut into.

    As few as hold it while leaving each cut room (at least MIN_SEARCH_WINDOW_MS)
    to move to a silence. With several lanes the count is rounded up to a
    multiple of them, as long as chunks stay at least half of `chunk_ms`: 13
    chunks on 4 lanes take 4 rounds of full-length requests, 16 take 4 rounds
    of shorter ones, and the API's time grows with the audio sent.
    """
    if duration_ms <= chunk_ms:
        return 1
    count = -(-duration_ms // chunk_ms)
    while _window_ms(duration_ms / count, chunk_ms, overlap_ms, search_window_ms) < MIN_SEARCH_WINDOW_MS:
        count += 1
    if lanes > 1:
        rounded = -(-count // lanes) * lanes
        if duration_ms / rounded >= chunk_ms / 2:
            count = rounded
    return count


def _window_ms(spacing_ms: float, chunk_ms: int, overlap_ms: int, search_window_ms: int) -> int:
    """The widest search window around each boundary that keeps every chunk within `chunk_ms`:
    cuts at opposite ends of two windows span spacing + window; an overlapped start adds
    overlap + half a window."""
    slack = chunk_ms - spacing_ms
    return max(0, int(min(search_window_ms, slack, 2 * (slack - overlap_ms))))


def _plan(
    duration_ms: int,
    cuts: Callable[[list[tuple[int, int, int]]], Iterator[int | None]],
    chunk_ms: int,
    *,
    lanes: int,
    overlap_ms: int,
    search_window_ms: int,
) -> ChunkPlan:
    """The planning rule of `plan_chunks`; `cuts(windows)` finds, for each (lo, target, hi)
    window in turn, the middle of a silence in it, or None."""
    chunk_ms = min(chunk_ms, MAX_CHUNK_MS)
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be positive, not {duration_ms}")
    if not 0 <= overlap_ms < chunk_ms // 2:
        raise ValueError(f"overlap_ms must be between 0 and half of chunk_ms, not {overlap_ms}")
    count = chunk_count(duration_ms, chunk_ms, lanes=lanes, overlap_ms=overlap_ms,
                        search_window_ms=search_window_ms)
    spacing = duration_ms / count
    half_window = _window_ms(spacing, chunk_ms, overlap_ms, search_window_ms) // 2
    targets = [round(k * spacing) for k in range(1, count)]
    windows = [(target - half_window, target, target + half_window) for target in targets]
    return ChunkPlan(count, _ranges(duration_ms, targets, cuts(windows), overlap_ms))


def _ranges(duration_ms: int, targets: list[int], cuts: Iterator[int | None], overlap_ms: int
            ) -> Iterator[ChunkRange]:
    """Each chunk as soon as the cut after it is known (None: no silence there, overlap)."""
    index = start = 0
    for target, cut in zip(targets, cuts, strict=True):
        if cut is None:
            yield ChunkRange(index, start, target)
            start = target - overlap_ms
        else:
            yield ChunkRange(index, start, cut)
            start = cut
        index += 1
    yield ChunkRange(index, start, duration_ms)


def _nearest_silence_middle(silences: list[tuple[int, int]], lo: int, hi: int, target: int) -> int | None:
    """The middle of the part inside [lo, hi] of the silence nearest to `target`, if any."""
    best = None
    for silence_start, silence_end in silences:
        inside_start, inside_end = max(silence_start, lo), min(silence_end, hi)
        if inside_start < inside_end:
            middle = (inside_start + inside_end) // 2
            if best is None or abs(middle - target) < abs(best - target):
                best = middle
    return best


def chunk_format(info: AudioInfo) -> str:
    """The format a recording's chunks are sent to the API in (a key of CHUNK_OUTPUT).

    A seekable MP3 file's chunks are its own frames, copied: nothing is decoded or
    encoded, so a chunk is ready in a fraction of the time, and a 128 kbps source
    uploads half the bytes of 16 kHz FLAC. Everything else is encoded as 16 kHz
    mono FLAC, which the API takes whatever the source was.
    """
    return "mp3" if info.seekable and info.codec == "mp3" and info.container == "mp3" else "flac"


def export_chunk(audio_path: str | Path, chunk: ChunkRange, dest_path: str | Path, chunk_format: str = "flac"
                 ) -> Path:
    """Write `chunk` of `audio_path` (the source, or a prepared WAV) in `chunk_format` at `dest_path`
    (its suffix becomes the format's); returns the path written.

    FLAC is cut at exact samples, a copied MP3 at the frame (26 ms) nearest the
    cut. Written under a temporary name and renamed, so the file never holds half
    a chunk. Raises InvalidAudioError if the source ends or breaks off inside the
    chunk (a truncated or corrupt file), and RuntimeError if ffmpeg fails otherwise.
    """
    return ChunkExport(audio_path, [chunk], [dest_path], chunk_format).results()[0]


class ChunkExport:
    """Chunks of one recording being written by one ffmpeg in the background: it starts at
    once, `results()` waits for it. Each chunk becomes what `export_chunk` says.

    Lets a caller cut the next chunk while it waits on something else (the API),
    as batch work at `niceness`; a cut that someone waits on should run at 0.
    Several FLAC chunks are cut side by side by the ffmpeg's threads, which share
    one copy of its 30 MB of code. Copies go one at a time: a copy's length is
    read from ffmpeg's progress report, which covers one output only (and a
    constant-bitrate MP3's frames are copied without ffmpeg: see mp3_frames).
    """

    def __init__(self, audio_path: str | Path, chunks: Sequence[ChunkRange], dest_paths: Sequence[str | Path],
                 chunk_format: str = "flac", *, niceness: int = CUT_NICENESS):  # fmt: skip
        if chunk_format != "flac" and len(chunks) != 1:
            raise ValueError("copied chunks are cut one at a time")
        self.audio_path = Path(audio_path)
        self.chunks = list(chunks)
        self.chunk_format = chunk_format
        self.dest_paths = [Path(path).with_suffix(f".{chunk_format}") for path in dest_paths]
        self._partials = [path.with_name(path.name + ".part") for path in self.dest_paths]
        self._process: subprocess.Popen | None = None
        self._copied_ms = self._copy_frames() if chunk_format == "mp3" else None
        if self._copied_ms is None:
            self._start_ffmpeg(niceness)

    def _start_ffmpeg(self, niceness: int) -> None:
        # A copy reports damaged frames (it writes them as they are) as warnings.
        loglevel = "error" if self.chunk_format == "flac" else "warning"
        command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", loglevel, "-progress", "pipe:1"]
        for chunk in self.chunks:
            command += ["-ss", f"{chunk.start_ms / 1000:.3f}", "-t", f"{(chunk.end_ms - chunk.start_ms) / 1000:.3f}",
                        *_input(self.audio_path)]  # fmt: skip
        for number, partial in enumerate(self._partials):
            command += ["-map", f"{number}:a:0", *CHUNK_OUTPUT[self.chunk_format], "-y", str(partial)]
        # Both to files: a pipe nobody reads until the end could fill up and stall ffmpeg.
        self._log = tempfile.TemporaryFile()
        self._progress = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdout=self._progress, stderr=self._log)
        if niceness:
            _lower_priority(self._process.pid, niceness)

    def _copy_frames(self) -> int | None:
        """Copy the chunk's frames of a constant-bitrate MP3 directly (see mp3_frames); the ms
        written, or None where that cannot be done and ffmpeg copies them instead."""
        frames = ConstantBitrateMp3.open(self.audio_path)
        chunk = self.chunks[0]
        return frames.copy(chunk.start_ms, chunk.end_ms, self._partials[0]) if frames else None

    def results(self) -> list[Path]:
        """Wait for ffmpeg; the chunks' paths, or InvalidAudioError / RuntimeError as export_chunk says."""
        returncode, error, written_ms = 0, "", self._copied_ms
        if self._process is not None:
            returncode = self._process.wait()
            error = _read_and_close(self._log).strip()[-2000:]
            written_ms = _written_ms(_read_and_close(self._progress))
        try:
            if self.chunk_format != "flac":
                return [self._copied(returncode, error, written_ms)]
            if returncode != 0:
                indexes = ", ".join(str(chunk.index) for chunk in self.chunks)
                raise RuntimeError(f"ffmpeg could not export chunk {indexes} of {self.audio_path}: {error}")
            return [self._landed(*export) for export in zip(self.chunks, self._partials, self.dest_paths)]
        finally:
            for partial in self._partials:  # those of chunks that did not land
                partial.unlink(missing_ok=True)

    def _copied(self, returncode: int, error: str, exported_ms: int) -> Path:
        chunk, partial, dest_path = self.chunks[0], self._partials[0], self.dest_paths[0]
        if (returncode != 0 or error or exported_ms < chunk.end_ms - chunk.start_ms - COPY_TOLERANCE_MS
                or partial.stat().st_size > MAX_CHUNK_BYTES):  # fmt: skip
            # Copied frames go out as they are, so only clean ones will do. Decoding to FLAC
            # finds where damaged ones break (and says so), and bounds the size of frames of a
            # high-bitrate MP3 that would outgrow the API's limit.
            partial.unlink(missing_ok=True)
            return export_chunk(self.audio_path, chunk, dest_path, "flac")
        os.replace(partial, dest_path)
        return dest_path

    def _landed(self, chunk: ChunkRange, partial: Path, dest_path: Path) -> Path:
        exported_ms = _flac_ms(partial)
        expected_ms = chunk.end_ms - chunk.start_ms
        if exported_ms < expected_ms - TRUNCATION_TOLERANCE_MS:
            log.warning("%s: chunk %d decoded to %d ms of %d", self.audio_path, chunk.index, exported_ms,
                        expected_ms)
            raise InvalidAudioError(_undecodable_past(chunk.start_ms + exported_ms))
        os.replace(partial, dest_path)
        return dest_path

    def cancel(self) -> None:
        """Stop ffmpeg if it still runs and remove what it wrote."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._log.close()
            self._progress.close()
        for path in (*self._partials, *self.dest_paths):
            path.unlink(missing_ok=True)


def _read_and_close(file) -> str:
    with file:
        file.seek(0)
        return file.read().decode(errors="replace")


def _written_ms(progress: str) -> int:
    """How much audio ffmpeg wrote, from the last out_time_us of its -progress report."""
    times = re.findall(r"^out_time_us=(\d+)$", progress, re.MULTILINE)
    return int(times[-1]) // 1000 if times else 0


def _flac_ms(path: Path) -> int:
    """The length of the FLAC file at `path`, from its STREAMINFO block (ffmpeg fills in the
    sample count when it closes the file); 0 if there is no such file."""
    try:
        with open(path, "rb") as file:
            head = file.read(26)
    except FileNotFoundError:
        return 0
    if len(head) < 26 or head[:4] != b"fLaC":
        return 0
    # After the block sizes: sample rate (20 bits), channels (3), bits per sample (5), samples (36).
    fields = int.from_bytes(head[18:26], "big")
    rate, samples = fields >> 44, fields & ((1 << 36) - 1)
    return samples * 1000 // rate if rate else 0


def _lower_priority(pid: int, niceness: int) -> None:
    """Cutting is batch work: let whatever shares the host (the web server, the requests in
    flight, other lanes' answers) have the CPU first."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except (AttributeError, OSError):
        pass  # not on this platform, or the process has already finished


def export_chunks(audio_path: str | Path, ranges: list[ChunkRange], dest_dir: str | Path, chunk_format: str = "flac",
                  *, side_by_side: int | None = None) -> Iterator[tuple[ChunkRange, Path]]:  # fmt: skip
    """Export every range of `audio_path` into `dest_dir` as chunk-NNNN.<format>, in order.

    One ffmpeg at a time: it cuts `side_by_side` FLAC chunks at once (by default
    as many as there are usable cores, up to MAX_SIDE_BY_SIDE), or copies one
    chunk, which takes little more than reading it. Yields each (range, path) as
    soon as its ffmpeg is done.
    """
    at_once = (side_by_side or min(_usable_cores(), MAX_SIDE_BY_SIDE)) if chunk_format == "flac" else 1
    for first in range(0, len(ranges), at_once):
        batch = ranges[first : first + at_once]
        dest_paths = [Path(dest_dir) / f"chunk-{chunk.index:04d}" for chunk in batch]
        yield from zip(batch, ChunkExport(audio_path, batch, dest_paths, chunk_format).results())


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
