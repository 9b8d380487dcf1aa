"""Test audio files written through the real ffmpeg, from DTMF scripts."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from pathlib import Path

from tests.support.dtmf import Word, synthesize_blocks
from transcription.ffmpeg import ffmpeg_binary

# Encoder chosen by the file's extension; anything else in codec_args (bitrate, ...) comes on top.
CODECS = {
    ".wav": ["-c:a", "pcm_s16le"],
    ".mp3": ["-c:a", "libmp3lame"],
    ".m4a": ["-c:a", "aac"],
    ".mp4": ["-c:a", "aac"],
    ".ogg": ["-c:a", "libvorbis"],
    ".opus": ["-c:a", "libopus"],
    ".flac": ["-c:a", "flac"],
    ".webm": ["-c:a", "libopus"],
}
MUXERS = {".wav": "wav", ".mp3": "mp3", ".m4a": "ipod", ".mp4": "mp4", ".ogg": "ogg", ".opus": "ogg",
          ".flac": "flac", ".webm": "webm"}  # fmt: skip


def write_audio(
    path: str | Path,
    words: list[Word],
    duration_s: float,
    *,
    sample_rate: int = 16000,
    channels: int = 1,
    codec_args: list[str] | None = None,
    noise_db: float | None = None,
    streamed: bool = False,
) -> Path:
    """Write the audio of `words` to `path`, encoded by its extension; returns the path.

    The samples are piped block by block, so hours of audio take little memory.
    `streamed=True` writes the file as a live stream, the way a browser's
    MediaRecorder does: no duration and no seek index in the container.
    """
    path = Path(path)
    output = ["-f", MUXERS[path.suffix], "pipe:1"] if streamed else ["-y", str(path)]
    command = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
        *CODECS[path.suffix], *(codec_args or []), *output,
    ]  # fmt: skip
    sink = open(path, "wb") if streamed else contextlib.nullcontext(subprocess.DEVNULL)
    with sink as stdout, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=log)
        with process.stdin:
            for block in synthesize_blocks(words, duration_s, sample_rate, channels, noise_db):
                process.stdin.write(block.astype("<i2").tobytes())
        process.wait()
        log.seek(0)
        error = log.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {error}")
    return path


def write_video(path: str | Path, duration_s: float, *, audio_from: str | Path | None = None) -> Path:
    """Write an H.264 video of `duration_s` to `path`, with the audio of `audio_from` as a second
    stream (as in a screen or meeting recording), or with no audio track at all."""
    path = Path(path)
    audio = ["-i", str(audio_from), "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-shortest"] if audio_from else []
    command = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"color=c=gray:s=64x64:r=10:d={duration_s}", *audio[:2],
        "-c:v", "libx264", *audio[2:], "-y", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return path
