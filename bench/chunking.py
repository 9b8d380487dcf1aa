"""Benchmark: our chunker against a pydub whole-file baseline, side by side in one run.

    python bench/chunking.py [--inputs DIR]

Generates a 2-hour 44.1 kHz stereo WAV and a 2-hour 128 kbps MP3 of speech-like
DTMF with pauses and low noise (and 4-hour copies of both), then chunks each:

- ours: what the pipeline does: probe, plan_recording (silences looked for by seeking
  to the window around each boundary), then export_chunks straight from the file
  in 10-minute chunks: the WAV's as 16 kHz mono FLAC, as many side by side in one
  ffmpeg as there are cores; the (constant-bitrate) MP3's as byte ranges of its
  own frames;
- pydub: AudioSegment.from_file, 10-minute slices, each exported as 16 kHz mono FLAC
  through the same ffmpeg binary.

Each side runs in a fresh child process. Its wall time is measured from spawn to
exit. Its memory is sampled every 10 ms over the child and all its descendants
(ffmpeg included) and summed: "peak RSS" counts a page shared by two concurrent
ffmpeg processes (the binary's code) twice, an upper bound, and is what the
targets are checked on; "peak PSS" counts every page once, the physical memory
used. The largest single process is shown beside them. Exits 1 if a target fails.
"""

# ruff: noqa: E402 (sys.path is set before the imports that depend on it)
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ first on sys.path, where a module named like a standard
# one (bench/queue.py) would shadow it. The repo root goes there instead: `transcription` and
# `tests.support` import from it.
sys.path[0] = str(REPO_ROOT)

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from transcription.audio import chunk_format, export_chunks, plan_recording, probe
from transcription.ffmpeg import ffmpeg_binary

CHUNK_MS = 600_000  # the pipeline's default CHUNK_SECONDS
HOURS = 2
SAMPLE_INTERVAL_S = 0.01
MB = 1024 * 1024
# Targets (issue 4).
MAX_WALL_RATIO = 0.5
MAX_PEAK_MB = 100
MAX_LONG_GROWTH = 0.10


def chunk_with_ours(source: Path, out_dir: Path) -> list[Path]:
    """What the pipeline does with an uploaded file: probe, plan by seeking, cut every chunk from it."""
    info = probe(source)
    ranges = plan_recording(source, info, CHUNK_MS)
    return [path for _, path in export_chunks(source, ranges, out_dir, chunk_format(info))]


def chunk_with_pydub(source: Path, out_dir: Path) -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pydub warns that no ffmpeg is on PATH; we set it below
        from pydub import AudioSegment  # here, so that only the baseline's child carries it

    AudioSegment.converter = ffmpeg_binary()
    # Naming the codec spares pydub its ffprobe call (there is no ffprobe here); WAV it reads itself.
    audio = AudioSegment.from_file(source, codec={".mp3": "mp3"}.get(source.suffix))
    paths = []
    for index, start in enumerate(range(0, len(audio), CHUNK_MS)):
        path = out_dir / f"chunk-{index:04d}.flac"
        audio[start : start + CHUNK_MS].export(path, format="flac", parameters=["-ar", "16000", "-ac", "1"])
        paths.append(path)
    return paths


SIDES = {"ours": chunk_with_ours, "pydub": chunk_with_pydub}


def work(side: str, source: Path, out_dir: Path) -> None:
    """Child process: chunk `source` with `side`; print what it made as JSON."""
    paths = SIDES[side](source, out_dir)
    print(json.dumps({"chunks": len(paths), "largest_chunk_bytes": max(path.stat().st_size for path in paths)}))


@dataclass
class Run:
    label: str
    side: str
    wall_s: float
    peak_rss_mb: float  # summed over the process tree: pages shared by its processes count once per process
    peak_pss_mb: float  # summed over the process tree: every page counts once
    largest_process_mb: float
    chunks: int
    largest_chunk_mb: float


def measure(label: str, side: str, source: Path, scratch: Path) -> Run:
    """Run one side in a fresh child process, sampling its process tree's memory until it exits."""
    import psutil  # the parent's only: the child measured should not carry it

    out_dir = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=scratch))
    command = [sys.executable, __file__, "--work", side, str(source), str(out_dir)]
    peak_rss = peak_pss = largest = 0
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=REPO_ROOT)
    root = psutil.Process(child.pid)
    while True:
        rss = pss = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:  # exited since the last sample
            tree = []
        for process in tree:
            try:
                memory = process.memory_full_info()
            except psutil.NoSuchProcess:  # ended between listing and reading
                continue
            rss, pss, largest = rss + memory.rss, pss + memory.pss, max(largest, memory.rss)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        try:
            output, _ = child.communicate(timeout=SAMPLE_INTERVAL_S)
            break
        except subprocess.TimeoutExpired:
            continue
    wall = time.perf_counter() - started
    shutil.rmtree(out_dir)
    if child.returncode != 0:
        raise RuntimeError(f"{side} failed on {source}")
    made = json.loads(output)
    return Run(label, side, wall, peak_rss / MB, peak_pss / MB, largest / MB, made["chunks"],
               made["largest_chunk_bytes"] / MB)  # fmt: skip


def generate_inputs(folder: Path) -> dict[str, Path]:
    """The 2-hour WAV and MP3 (synthesized, streaming) and their 4-hour copies; kept if present."""
    from tests.support.audio_files import write_audio
    from tests.support.dtmf import dtmf_script

    seconds = HOURS * 3600
    inputs = {
        "2h WAV": folder / "2h-44k-stereo.wav",
        "2h MP3": folder / "2h-128k.mp3",
        "4h WAV": folder / "4h-44k-stereo.wav",
        "4h MP3": folder / "4h-128k.mp3",
    }
    missing = [inputs[name] for name in ("2h WAV", "2h MP3") if not inputs[name].exists()]
    if missing:
        print(f"generating {', '.join(path.name for path in missing)} (about a minute) ...", flush=True)
        words = dtmf_script(seconds, seed=2026)
        encoders = {".wav": None, ".mp3": ["-b:a", "128k"]}
        with ThreadPoolExecutor(len(missing)) as pool:  # the WAV and the MP3 encoder run side by side
            jobs = [
                pool.submit(write_audio, path, words, seconds, sample_rate=44100, channels=2,
                            codec_args=encoders[path.suffix], noise_db=-60)
                for path in missing
            ]  # fmt: skip
            for job in jobs:
                job.result()
    for kind in ("WAV", "MP3"):
        if not inputs[f"4h {kind}"].exists():
            _concatenate(inputs[f"2h {kind}"], 2, inputs[f"4h {kind}"])
    return inputs


def _concatenate(path: Path, times: int, dest: Path) -> None:
    """`path` played `times` times over, copied without re-encoding."""
    listing = dest.with_suffix(".txt")
    listing.write_text(f"file '{path}'\n" * times)
    # The join repeats one timestamp; the MP3 muxer reports it as an error and carries on: hence "fatal".
    command = [ffmpeg_binary(), "-v", "fatal", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
               "-y", str(dest)]  # fmt: skip
    subprocess.run(command, check=True)
    listing.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=Path, help="keep the generated inputs here and reuse them (default: temp)")
    parser.add_argument("--work", nargs=3, metavar=("SIDE", "SOURCE", "OUT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        side, source, out_dir = args.work
        work(side, Path(source), Path(out_dir))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-chunking-") as scratch:
        folder = args.inputs or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = generate_inputs(folder)
        runs = []
        for label in ("2h WAV", "2h MP3"):
            for side in ("pydub", "ours"):
                runs.append(measure(label, side, inputs[label], Path(scratch)))
                print(_row(runs[-1]), flush=True)
        for label in ("4h WAV", "4h MP3"):
            runs.append(measure(label, "ours", inputs[label], Path(scratch)))
            print(_row(runs[-1]), flush=True)
    return report(runs)


HEADER = (
    f"{'input':<8} {'side':<6} {'wall s':>7} {'peak RSS MB':>12} {'peak PSS MB':>12} {'largest proc MB':>16}"
    f" {'chunks':>7} {'max chunk MB':>13}"
)


def _row(run: Run) -> str:
    return (
        f"{run.label:<8} {run.side:<6} {run.wall_s:>7.2f} {run.peak_rss_mb:>12.1f} {run.peak_pss_mb:>12.1f}"
        f" {run.largest_process_mb:>16.1f} {run.chunks:>7} {run.largest_chunk_mb:>13.2f}"
    )


def report(runs: list[Run]) -> int:
    """Print the table, the ratios and the targets; 0 if every target is met, else 1."""
    by_key = {(run.label, run.side): run for run in runs}
    print("\n" + HEADER)
    for run in runs:
        print(_row(run))
    print()
    failures = []
    for kind in ("WAV", "MP3"):
        ours, pydub, long = (
            by_key[(f"2h {kind}", "ours")],
            by_key[(f"2h {kind}", "pydub")],
            by_key[(f"4h {kind}", "ours")],
        )
        wall_ratio, rss_ratio = ours.wall_s / pydub.wall_s, ours.peak_rss_mb / pydub.peak_rss_mb
        growth = long.peak_rss_mb / ours.peak_rss_mb - 1
        print(f"2h {kind}: ours/pydub wall {wall_ratio:.2f}x ({pydub.wall_s / ours.wall_s:.1f}x faster); "
              f"peak RSS {rss_ratio:.3f}x ({ours.peak_rss_mb:.0f} vs {pydub.peak_rss_mb:.0f} MB), "
              f"PSS {ours.peak_pss_mb:.0f} vs {pydub.peak_pss_mb:.0f} MB; "
              f"our 4h peak RSS vs 2h {growth:+.1%}")  # fmt: skip
        checks = {
            f"{kind} wall <= {MAX_WALL_RATIO} x pydub": wall_ratio <= MAX_WALL_RATIO,
            f"{kind} peak <= {MAX_PEAK_MB} MB": ours.peak_rss_mb <= MAX_PEAK_MB and long.peak_rss_mb <= MAX_PEAK_MB,
            f"{kind} 4h peak within {MAX_LONG_GROWTH:.0%} of 2h": abs(growth) <= MAX_LONG_GROWTH,
        }
        failures += [name for name, ok in checks.items() if not ok]
    print("\nall targets met" if not failures else f"\nTARGETS MISSED: {'; '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
