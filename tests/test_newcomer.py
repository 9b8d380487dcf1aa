"""A newcomer's first run: a fresh clone, a machine with only Python and git on PATH (no
redis-server, no ffmpeg), no API key, and the README's command, `python3 run.py`.

The test clones the repository's committed HEAD (not the working tree), lets run.py
create its virtual environment and install requirements.txt, then drives the app over
HTTP like a browser: create the admin account, upload a speech recording through the
form, follow it to the progress page, and wait for the offline engine's transcript.
Finally it stops the launcher with SIGTERM and checks that every process it started
has gone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tasks.redis_server import free_port
from tests.support.browser import Browser
from tests.support.speech import FIRST, SECOND, SPEECH, words_recognised
from tests.support.worker import REPO_ROOT, wait_for

INSTALL_AND_START_SECONDS = 900  # a new virtual environment and every requirement; pip's cache makes it ~1 min
TRANSCRIBE_SECONDS = 240
STOP_SECONDS = 60
# What a newcomer's environment keeps beside PATH and HOME: locale, proxies and pip's own settings.
PASSED_THROUGH = re.compile(r"^(LANG|LC_\w+|TZ|PIP_\w+|(HTTPS?|NO|ALL)_PROXY|SSL_CERT_\w+|REQUESTS_CA_BUNDLE)$", re.I)


def bare_path(folder: Path) -> str:
    """A PATH holding only python3 and git."""
    folder.mkdir()
    (folder / "python3").symlink_to(os.path.realpath(sys._base_executable))
    (folder / "git").symlink_to(os.path.realpath(shutil.which("git")))
    return str(folder)


def processes_from(folder: Path) -> list[psutil.Process]:
    """Every running process whose command line or working directory lies in `folder`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline or (process.info["cwd"] or "").startswith(str(folder)):
            found.append(process)
    return found


def test_a_fresh_clone_runs_with_one_command_and_transcribes_offline(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    path = bare_path(tmp_path / "bin")
    assert not any(shutil.which(tool, path=path) for tool in ("redis-server", "ffmpeg", "ffprobe"))
    port = free_port()
    env = {"PATH": path, "HOME": os.environ["HOME"], "PORT": str(port),
           **{key: value for key, value in os.environ.items() if PASSED_THROUGH.match(key)}}
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        launcher = subprocess.Popen(["python3", "run.py"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def output() -> str:
        return log_path.read_text(errors="replace")

    def started() -> bool:
        if launcher.poll() is not None:
            raise AssertionError(f"run.py exited with {launcher.returncode}:\n{output()[-5000:]}")
        return f"running at http://127.0.0.1:{port}/" in output()

    try:
        wait_for(started, INSTALL_AND_START_SECONDS, interval=1, message="run.py to install and start")
        browser = Browser(f"http://127.0.0.1:{port}")

        # First start: the app asks for the admin account.
        first = browser.get("/")
        assert first.status == 302 and first.location.endswith("/setup"), first
        setup = browser.get("/setup")
        created = browser.post_form("/setup", {"csrf_token": setup.csrf_token(), "username": "newcomer",
                                               "password": "a long first password", "confirm": "a long first password"})
        assert created.status == 302, created.text[-2000:]

        form = browser.get("/")
        assert form.status == 200 and 'enctype="multipart/form-data"' in form.text
        uploaded = browser.post_multipart("/", {"csrf_token": form.csrf_token(), "session_notes": "",
                                                "previous_transcript": ""},
                                          {"audio": (SPEECH, "audio/ogg")})
        assert uploaded.status == 302, uploaded.text[-2000:]
        progress_url = re.sub(r"^https?://[^/]+", "", uploaded.location)
        assert re.fullmatch(r"/transcriptions/\d+", progress_url), uploaded.location
        page = browser.get(progress_url)
        assert page.status == 200 and "hx-get" in page.text  # the live progress page

        # Poll the fragment the way htmx does, until it answers 286 (nothing more to wait for).
        def ended():
            fragment = browser.get(progress_url + "/progress")
            return fragment if fragment.status == 286 else None

        fragment = wait_for(ended, TRANSCRIBE_SECONDS, interval=1, message="the transcription to end")
        assert "badge-finished" in fragment.text, fragment.text[-3000:]
        page = browser.get(progress_url)
        assert "engine <strong>pocketsphinx</strong>, model <strong>en-us</strong>" in page.text
        assert "Transcribed by pocketsphinx (model en-us)" in page.text
        transcript = browser.get(progress_url + "/transcript.txt")
        assert transcript.status == 200
        assert words_recognised(f"{FIRST} {SECOND}", transcript.text) >= 0.6, transcript.text
        log = output()
        assert "Embedded Redis on redis://127.0.0.1:" in log
        assert "beat: Starting" in log and "celery.apps.worker" in log, "a worker and beat run beside the web server"
    finally:
        stop_and_check_every_child_went(launcher, clone, output)


def stop_and_check_every_child_went(launcher: subprocess.Popen, clone: Path, output) -> None:
    """SIGTERM to run.py, as a service manager would; whatever is left is killed, and fails the test."""
    started = time.monotonic()
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGTERM)
    try:
        launcher.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        raise AssertionError(f"run.py did not stop within {STOP_SECONDS} s of SIGTERM:\n{output()[-3000:]}") from None
    try:
        wait_for(lambda: not processes_from(clone), 10, interval=0.2, message="every child of run.py to exit")
    except TimeoutError:
        left = processes_from(clone)
        for process in left:
            process.kill()
        raise AssertionError(f"still running after run.py stopped: {[p.info['cmdline'] for p in left]}") from None
    assert "Stopping ..." in output()
    assert time.monotonic() - started < STOP_SECONDS
