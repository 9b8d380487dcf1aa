"""Where the ffmpeg binary lives."""

from __future__ import annotations

import shutil
from functools import cache

import imageio_ffmpeg


@cache
def ffmpeg_binary() -> str:
    """Path of the ffmpeg to run: the one on PATH if any, else the one imageio-ffmpeg ships."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
