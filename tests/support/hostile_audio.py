"""Audio files made to hurt: tiny files that decode to days, headers that lie, files cut short."""

from __future__ import annotations

import struct
from pathlib import Path

FLAC_SAMPLE_RATE = 8000
FLAC_BLOCK = 65535  # the largest FLAC block: one constant subframe of silence per 8 s


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _utf8_number(n: int) -> bytes:
    """FLAC's frame number: coded like UTF-8 (here up to 3 bytes, n < 65536)."""
    if n < 0x80:
        return bytes([n])
    if n < 0x800:
        return bytes([0xC0 | n >> 6, 0x80 | n & 0x3F])
    return bytes([0xE0 | n >> 12, 0x80 | (n >> 6) & 0x3F, 0x80 | n & 0x3F])


def flac_bomb(path: Path, hours: float) -> Path:
    """A FLAC file of `hours` of silence that states no length: each frame is one constant
    subframe (about 14 bytes per 8 seconds), so 100 hours take well under a megabyte."""
    frames = int(hours * 3600 * FLAC_SAMPLE_RATE / FLAC_BLOCK)
    assert frames < 65536
    streaminfo = struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK) + b"\0" * 6
    # sample rate (20 bits), channels-1 (3), bits per sample-1 (5), total samples (36: 0 = unknown)
    packed = (FLAC_SAMPLE_RATE << 44) | (0 << 41) | (15 << 36) | 0
    streaminfo += packed.to_bytes(8, "big") + b"\0" * 16
    out = bytearray(b"fLaC" + bytes([0x80, 0, 0, 34]) + streaminfo)
    for number in range(frames):
        # sync + fixed blocking; block size "16 bits at the end", 8 kHz; mono, 16 bits
        header = bytes([0xFF, 0xF8, 0x74, 0x08]) + _utf8_number(number) + struct.pack(">H", FLAC_BLOCK - 1)
        header += bytes([_crc8(header)])
        frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0
        out += frame + struct.pack(">H", _crc16(frame))
    path.write_bytes(bytes(out))
    return path


def wav_claiming(path: Path, hours: float, real_seconds: float = 10) -> Path:
    """A WAV whose header states `hours` (8 kHz, 8 bits) but that holds only `real_seconds` of audio."""
    rate, stated = 8000, int(hours * 3600 * 8000)
    assert stated < 2**32 - 64
    header = b"RIFF" + struct.pack("<I", 36 + stated) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    header += b"data" + struct.pack("<I", stated)
    data = bytes(128 + (i // 8 % 2) * 40 for i in range(int(real_seconds * rate)))  # a quiet square wave
    path.write_bytes(header + data)
    return path


def truncated(source: Path, path: Path, keep: float = 0.5) -> Path:
    """The first `keep` of `source`'s bytes."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupted(source: Path, path: Path, start: float = 0.3, length: float = 0.4) -> Path:
    """`source` with a stretch of its bytes (from `start`, `length` of them, as fractions) overwritten."""
    data = bytearray(source.read_bytes())
    first, count = int(len(data) * start), int(len(data) * length)
    data[first:first + count] = bytes((i * 97 + 13) % 251 for i in range(count))
    path.write_bytes(bytes(data))
    return path


def mp3_claiming(source_mp3: Path, path: Path, hours: float) -> Path:
    """`source_mp3` (with a Xing/Info header, as ffmpeg writes) whose header states `hours`."""
    data = bytearray(source_mp3.read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0, "no Xing/Info header"
    flags = struct.unpack(">I", data[tag + 4:tag + 8])[0]
    assert flags & 1, "the header has no frame count"
    frames = int(hours * 3600 * 44100 / 1152)
    data[tag + 8:tag + 12] = struct.pack(">I", frames)
    path.write_bytes(bytes(data))
    return path
