"""DTMF "speech": test audio whose words a fake transcription server decodes exactly.

A word is one DTMF digit ('0'-'9') played as a tone burst. A script is a list of
words with their times; the transcript of some audio is its digits joined by
single spaces. Phrases of bursts separated by short gaps stand in for speech,
longer pauses between phrases for the silences a chunker may cut at.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The decoder's matrix products are small and come from several server threads at once;
# OpenBLAS's own helper threads would spin between them and take a core from the code under
# test. Set before numpy loads, which reads it once (nothing else here imports numpy).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from transcription.ffmpeg import ffmpeg_binary

LOW_HZ = (697.0, 770.0, 852.0, 941.0)
HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")  # rows follow LOW_HZ, columns HIGH_HZ
DIGITS = "0123456789"
DIGIT_TONES = {
    key: (LOW_HZ[row], HIGH_HZ[column]) for row, keys in enumerate(KEYPAD) for column, key in enumerate(keys)
    if key in DIGITS
}  # fmt: skip
# Index in DIGITS of the key at (strongest low tone, strongest high tone); -1 for a non-digit key.
CODE_BY_TONES = np.array([[DIGITS.find(key) for key in keys] for keys in KEYPAD], dtype=np.int8)
# Each of the two tones peaks at 0.35 of full scale: loud, with headroom for lossy codecs.
TONE_AMPLITUDE = 0.35 * 32767
RAMP_MS = 5  # raised-cosine edges, so bursts do not click (and smear) through lossy codecs

FRAME_MS = 30  # analysis window: resolves 697 vs 770 Hz (73 Hz apart) with a Hann window
HOP_MS = 10
# A frame holds a digit when its two strongest tones carry this share of the frame's energy
# (about 1.0 for a clean burst, well above what noise or a codec's smear reaches) ...
MIN_TONE_SHARE = 0.5
# ... and the frame is louder than this (RMS, relative to full scale).
MIN_FRAME_DBFS = -45.0
MAX_DROPOUT_FRAMES = 3  # a burst may lose a few frames to a codec and still be one word


@dataclass(frozen=True)
class Word:
    """One DTMF digit burst: its text and when it sounds, in ms from the start."""

    text: str
    start_ms: int
    end_ms: int


def words_text(words: Iterable[Word]) -> str:
    """The transcript of `words`: their digits joined by single spaces."""
    return " ".join(word.text for word in words)


def dtmf_script(
    duration_s: float,
    seed: int,
    *,
    tone_ms: int = 200,
    gap_ms: int = 150,
    words_per_phrase: tuple[int, int] = (5, 10),
    pause_ms: int = 900,
    no_pause: Iterable[tuple[float, float]] = (),
) -> list[Word]:
    """A deterministic speech-like script filling `duration_s` seconds.

    Phrases of `words_per_phrase` (inclusive range) bursts of `tone_ms`, `gap_ms`
    apart (too short to count as silence), separated by `pause_ms` pauses (real
    silences). A pause that would touch a `no_pause` window (start_s, end_s) is
    replaced by an ordinary gap, so the window is continuous "speech".
    """
    rng = random.Random(seed)
    windows = [(round(start * 1000), round(end * 1000)) for start, end in no_pause]
    duration_ms = round(duration_s * 1000)
    words: list[Word] = []
    t = gap_ms  # the recording opens with a short lead-in, not with a burst
    phrase_left = rng.randint(*words_per_phrase)
    while t + tone_ms + gap_ms <= duration_ms:
        words.append(Word(rng.choice("0123456789"), t, t + tone_ms))
        t += tone_ms
        phrase_left -= 1
        pause_end = t + pause_ms
        if phrase_left == 0 and not any(start < pause_end and t < end for start, end in windows):
            t = pause_end
            phrase_left = rng.randint(*words_per_phrase)
        else:
            t += gap_ms
            phrase_left = max(phrase_left, 1)  # a phrase held open by a window ends after the window
    return words


def synthesize_blocks(
    words: list[Word],
    duration_s: float,
    sample_rate: int = 16000,
    channels: int = 1,
    noise_db: float | None = None,
    block_s: float = 10.0,
) -> Iterator[np.ndarray]:
    """The audio of `words` as consecutive int16 blocks (frames x channels) of `block_s` seconds.

    Streams: memory stays at one block however long the recording. `noise_db`
    adds white noise at that RMS level (dBFS), deterministically.
    """
    total = round(duration_s * sample_rate)
    block = max(1, round(block_s * sample_rate))
    ramp = max(1, round(RAMP_MS * sample_rate / 1000))
    first_word = 0
    for index, start in enumerate(range(0, total, block)):
        stop = min(start + block, total)
        signal = np.zeros(stop - start, dtype=np.float32)
        while first_word < len(words) and _sample(words[first_word].end_ms, sample_rate) <= start:
            first_word += 1
        for word in words[first_word:]:
            word_start = _sample(word.start_ms, sample_rate)
            word_end = _sample(word.end_ms, sample_rate)
            if word_start >= stop:
                break
            lo, hi = max(word_start, start), min(word_end, stop)
            n = np.arange(lo, hi)
            t = n / sample_rate
            low, high = DIGIT_TONES[word.text]
            tone = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)
            # Raised-cosine fade over the first and last `ramp` samples of the burst.
            edge = np.minimum(n - word_start, word_end - 1 - n)
            envelope = np.where(edge < ramp, 0.5 - 0.5 * np.cos(np.pi * np.minimum(edge, ramp) / ramp), 1.0)
            signal[lo - start : hi - start] += (TONE_AMPLITUDE * tone * envelope).astype(np.float32)
        if noise_db is not None:
            rng = np.random.default_rng(index)  # per block, so any block is reproducible alone
            noise = rng.standard_normal(stop - start, dtype=np.float32)
            signal += noise * np.float32(32767 * 10 ** (noise_db / 20))
        pcm = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
        yield np.repeat(pcm[:, None], channels, axis=1)


def synthesize(
    words: list[Word],
    duration_s: float,
    sample_rate: int = 16000,
    channels: int = 1,
    noise_db: float | None = None,
) -> np.ndarray:
    """The audio of `words` as one int16 array (frames x channels); see `synthesize_blocks`."""
    blocks = list(synthesize_blocks(words, duration_s, sample_rate, channels, noise_db))
    if not blocks:
        return np.zeros((0, channels), dtype=np.int16)
    return np.concatenate(blocks)


def _sample(ms: int, sample_rate: int) -> int:
    return ms * sample_rate // 1000


class DtmfDecoder:
    """Streaming DTMF decoder: feed int16 mono blocks, then `finish()` for the words.

    Single-bin DFTs at the eight DTMF frequencies on Hann-windowed frames,
    vectorised with numpy. Memory per second of audio is a hundred bytes.
    """

    def __init__(self, sample_rate: int, *, min_tone_ms: int = 120):
        self.sample_rate = sample_rate
        self.min_tone_ms = min_tone_ms
        self.frame = round(FRAME_MS * sample_rate / 1000)
        self.hop = round(HOP_MS * sample_rate / 1000)
        window = np.hanning(self.frame).astype(np.float32)
        phase = 2 * np.pi * np.outer(np.arange(self.frame), LOW_HZ + HIGH_HZ) / sample_rate
        # Windowed cosine and sine bases side by side: one matmul gives all 8 bins.
        self.basis = (np.concatenate([np.cos(phase), np.sin(phase)], axis=1) * window[:, None]).astype(np.float32)
        self.window = window
        # For a pure tone, |bin|^2 / windowed energy = (sum w)^2 / (2 sum w^2); scale shares to 1.
        self.pure_gain = float(np.sum(window) ** 2 / (2 * np.sum(window**2)))
        self.pending = np.zeros(0, dtype=np.float32)
        self.labels: list[np.ndarray] = []

    def feed(self, pcm: np.ndarray) -> None:
        """Analyse another block of int16 mono samples."""
        samples = np.concatenate([self.pending, np.asarray(pcm, dtype=np.float32).reshape(-1)])
        count = 0 if len(samples) < self.frame else (len(samples) - self.frame) // self.hop + 1
        if count:
            frames = np.lib.stride_tricks.sliding_window_view(samples, self.frame)[:: self.hop][:count]
            self.labels.append(self._label(frames))
        self.pending = samples[count * self.hop :]

    def _label(self, frames: np.ndarray) -> np.ndarray:
        """Per frame: the index of its digit in DIGITS, or -1 for no digit."""
        bins = frames @ self.basis
        power = bins[:, :8] ** 2 + bins[:, 8:] ** 2
        low, high = power[:, :4], power[:, 4:]
        row, column = low.argmax(axis=1), high.argmax(axis=1)
        peak = np.take_along_axis(low, row[:, None], 1)[:, 0] + np.take_along_axis(high, column[:, None], 1)[:, 0]
        energy = np.sum((frames * self.window) ** 2, axis=1) * self.pure_gain + 1e-9
        share = peak / energy  # about 1 for a clean two-tone frame
        rms = np.sqrt(np.mean(frames**2, axis=1)) / 32768 + 1e-12
        ok = (share >= MIN_TONE_SHARE) & (20 * np.log10(rms) >= MIN_FRAME_DBFS)
        return np.where(ok, CODE_BY_TONES[row, column], -1).astype(np.int8)

    def finish(self) -> list[Word]:
        """The words heard so far: runs of one digit at least `min_tone_ms` long.

        A run may lose up to MAX_DROPOUT_FRAMES frames to a codec and stay one word.
        """
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, dtype=np.int8)
        frames = np.flatnonzero(labels >= 0)
        if frames.size == 0:
            return []
        codes = labels[frames]
        # A new run starts where the digit changes or the gap since its last frame is too long.
        breaks = (np.diff(codes) != 0) | (np.diff(frames) > MAX_DROPOUT_FRAMES + 1)
        firsts = np.concatenate([frames[:1], frames[1:][breaks]])
        lasts = np.concatenate([frames[:-1][breaks], frames[-1:]])
        run_codes = np.concatenate([codes[:1], codes[1:][breaks]])
        # A frame sees the tone once half of it overlaps the burst: its centre marks the edge.
        starts = np.rint((firsts * self.hop + self.frame / 2) * 1000 / self.sample_rate).astype(int)
        ends = np.rint((lasts * self.hop + self.frame / 2) * 1000 / self.sample_rate).astype(int)
        return [
            Word(DIGITS[code], int(start), int(end))
            for code, start, end in zip(run_codes, starts, ends)
            if end - start >= self.min_tone_ms
        ]


def decode_dtmf(pcm: np.ndarray, sample_rate: int, *, min_tone_ms: int = 120) -> list[Word]:
    """The words in int16 mono `pcm`; bursts shorter than `min_tone_ms` are ignored."""
    decoder = DtmfDecoder(sample_rate, min_tone_ms=min_tone_ms)
    decoder.feed(pcm)
    return decoder.finish()


DECODE_RATE = 8000  # DTMF tops out at 1633 Hz: 8 kHz holds it, at half the work of 16 kHz
READ_BYTES = 2 * DECODE_RATE * 10  # ten seconds of mono s16le per read
# The fake API decodes every upload with this. A real API's work is not done on our machine:
# here it takes only CPU time nothing else wants (SCHED_IDLE, set before ffmpeg starts its threads).
LOWEST_PRIORITY = (["chrt", "--idle", "0"] if shutil.which("chrt")
                   else ["nice", "-n", "19"] if shutil.which("nice") else [])


def decode_dtmf_file(path: str | Path, *, min_tone_ms: int = 120) -> list[Word]:
    """The words in any audio file, decoded through ffmpeg to 8 kHz mono, streaming."""
    decoder = DtmfDecoder(DECODE_RATE, min_tone_ms=min_tone_ms)
    command = [
        *LOWEST_PRIORITY, ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
        "-map", "0:a:0",
        # Downmix before resampling, and write second-long frames: a codec's own frames (26 ms for
        # MP3) would mean thousands of tiny pipe writes, which cost more than the decoding.
        "-af", f"aformat=channel_layouts=mono,aresample={DECODE_RATE},asetnsamples=n={DECODE_RATE}:p=0",
        "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    # stderr goes to a file: a pipe left unread while we read stdout could fill and stall ffmpeg.
    with tempfile.TemporaryFile() as log, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log) as process:
        leftover = b""
        while data := process.stdout.read(READ_BYTES):
            data = leftover + data
            usable = len(data) - len(data) % 2
            decoder.feed(np.frombuffer(data[:usable], dtype="<i2"))
            leftover = data[usable:]
        process.wait()
        log.seek(0)
        error = log.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {path}: {error}")
    return decoder.finish()
