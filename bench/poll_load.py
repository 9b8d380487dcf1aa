"""Benchmark: progress-fragment polls against a trivial route, on one gunicorn, side by side.

    python bench/poll_load.py [--clients 100] [--seconds 5] [--rounds 3] [--transcriptions 20] [--chunks 12]

Starts a private redis-server and gunicorn (gunicorn.conf.py: 2 gthread workers
of 8 threads) on 127.0.0.1 with a fresh SQLite database holding running
transcriptions of one user, half of their chunks transcribed. Signs in once over
HTTP, then runs `--clients` threads, each with its own keep-alive connection and
the signed-in session cookie, as fast as answers come back, for `--seconds`:

  poll      GET /transcriptions/<id>/progress (HX-Request), a transcription picked per request
  trivial   GET /healthz: the same server, the same stack, no database and no template

The sides alternate (poll, trivial, trivial, poll, ...) so background load hits
both alike. Printed per side: requests per second, p50 and p99 latency, errors;
then the ratio of poll to trivial throughput (target >= 0.5). Exits non-zero on
any error or a ratio under the target. Every request goes to 127.0.0.1 and
every phase stops after `--seconds` (and at most MAX_REQUESTS_PER_CLIENT each).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO_ROOT)

import argparse  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

HOST = "127.0.0.1"
TARGET_RATIO = 0.5
MAX_REQUESTS_PER_CLIENT = 100_000
USERNAME, PASSWORD = "bench", "bench-password-123"
CHUNK_TEXT = ("and then we went through the figures for the third quarter, line by line, "
              "until everybody agreed on what the budget would be ") * 3


@dataclass
class Phase:
    """What one side's clients saw in one phase, and the server CPU time it took."""

    name: str
    seconds: float = 0.0
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def seed_database(env: dict[str, str], transcriptions: int, chunks: int) -> list[int]:
    """One user and `transcriptions` running transcriptions of `chunks` chunks, half done; their ids."""
    os.environ.update(env)  # config.py reads the environment when imported
    from werkzeug.security import generate_password_hash

    from app import create_app
    from extensions import db
    from models import ChunkStatus, SessionAudio, TranscriptChunk, Transcription, TranscriptionStatus, User

    app = create_app()
    with app.app_context():
        user = User(username=USERNAME, password_hash=generate_password_hash(PASSWORD))
        db.session.add(user)
        db.session.flush()
        ids = []
        for n in range(transcriptions):
            session_audio = SessionAudio(original_name=f"session {n}.mp3", stored_name=f"{uuid.uuid4().hex}.mp3",
                                         size_bytes=50_000_000, duration_ms=chunks * 600_000, owner_id=user.id)
            transcription = Transcription(session_audio=session_audio, status=TranscriptionStatus.RUNNING,
                                          chunk_count=chunks, chunks_done=chunks // 2)
            for index in range(chunks):
                done = index < chunks // 2
                transcription.chunks.append(TranscriptChunk(
                    index=index, start_ms=index * 600_000, end_ms=(index + 1) * 600_000,
                    status=ChunkStatus.DONE if done else ChunkStatus.RUNNING, text=CHUNK_TEXT if done else None))
            db.session.add_all([session_audio, transcription])
            db.session.flush()
            ids.append(transcription.id)
        db.session.commit()
    return ids


def start_gunicorn(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
                               cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            status, _, _ = request(int(env["PORT"]), "GET", "/healthz")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not answer within 60 s")


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def sign_in(port: int, page: str) -> str:
    """Sign in through the login form and open `page`, as a browser would before it polls;
    returns the session cookie ("session=...") as it stands then."""
    status, headers, html = request(port, "GET", "/login")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1).decode()
    form = urlencode({"csrf_token": token, "username": USERNAME, "password": PASSWORD}).encode()
    status, headers, _ = request(port, "POST", "/login", form, {
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    if status != 302:
        raise RuntimeError(f"signing in answered {status}")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    # The page puts a CSRF token in the session (signing in starts a fresh one); a client that
    # kept the older cookie would have a new token minted, and a cookie set, on every poll.
    status, headers, _ = request(port, "GET", page, headers={"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"{page} answered {status}")
    return headers["Set-Cookie"].split(";", 1)[0] if "Set-Cookie" in headers else cookie


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User and system CPU time of gunicorn's master and workers so far."""
    import psutil

    master = psutil.Process(server.pid)
    total = 0.0
    for process in [master, *master.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_phase(name: str, port: int, clients: int, seconds: float, paths: list[str], headers: dict[str, str],
              expected_status: int, server: subprocess.Popen | None = None) -> Phase:
    """`clients` threads send GETs for `seconds`, each on its own keep-alive connection."""
    phase = Phase(name)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        latencies, errors = [], []
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        start.wait()
        deadline = deadline_box[0]
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            began = time.perf_counter()
            if began >= deadline:
                break
            try:
                connection.request("GET", rng.choice(paths), headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != expected_status:
                    errors.append(f"HTTP {response.status}")
                else:
                    latencies.append(time.perf_counter() - began)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                connection.close()
        connection.close()
        with lock:
            phase.latencies.extend(latencies)
            phase.errors.extend(errors)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = server_cpu_seconds(server) if server else 0.0
    began = time.perf_counter()
    deadline_box.append(began + seconds)
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    phase.seconds = time.perf_counter() - began
    phase.server_cpu = server_cpu_seconds(server) - cpu_before if server else 0.0
    return phase


def report(label: str, phases: list[Phase]) -> tuple[float, float, int]:
    latencies = [latency for phase in phases for latency in phase.latencies]
    seconds = sum(phase.seconds for phase in phases)
    merged = Phase(label, seconds, latencies=latencies, errors=[e for phase in phases for e in phase.errors])
    cpu_ms = 1000 * sum(phase.server_cpu for phase in phases) / max(1, len(latencies))
    print(f"  {label:<8} {merged.throughput:8.0f} req/s   p50 {1000 * merged.percentile(0.5):6.1f} ms   "
          f"p99 {1000 * merged.percentile(0.99):6.1f} ms   requests {len(latencies):7d}   errors {len(merged.errors)}"
          f"   server CPU {cpu_ms:.2f} ms/request")
    if merged.errors:
        print(f"           first errors: {sorted(set(merged.errors))[:5]}")
    return merged.throughput, merged.percentile(0.99), len(merged.errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="poll/trivial pairs, in ABBA order")
    parser.add_argument("--transcriptions", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=12)
    args = parser.parse_args()

    from tasks.redis_server import RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="poll-load-") as folder, RedisServer() as redis:
        port = free_port()
        env = {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "CELERY_BROKER_URL": f"{redis.url}/0",
            "CELERY_RESULT_BACKEND": f"{redis.url}/1",
            "UPLOAD_FOLDER": f"{folder}/uploads",
            "HOST": HOST,
            "PORT": str(port),
            "GUNICORN_ACCESS_LOG": "0",
        }
        ids = seed_database(env, args.transcriptions, args.chunks)
        server = start_gunicorn(env, Path(folder) / "gunicorn.log")
        try:
            cookie = sign_in(port, f"/transcriptions/{ids[0]}")
            sides = {
                "poll": ([f"/transcriptions/{i}/progress" for i in ids], {"Cookie": cookie, "HX-Request": "true"}),
                "trivial": (["/healthz"], {"Cookie": cookie}),
            }
            print(f"gunicorn on {HOST}:{port}, workers {os.environ.get('WEB_CONCURRENCY', '2')} x threads "
                  f"{os.environ.get('GUNICORN_THREADS', '8')}; {args.clients} clients, {args.rounds} rounds of "
                  f"{args.seconds:g} s per side; {len(ids)} running transcriptions of {args.chunks} chunks")
            run_phase("warm-up", port, min(args.clients, 10), 1.0, *sides["poll"], 200)
            phases: dict[str, list[Phase]] = {"poll": [], "trivial": []}
            ratios = []
            for round_number in range(args.rounds):
                order = ("poll", "trivial") if round_number % 2 == 0 else ("trivial", "poll")
                done = {name: run_phase(name, port, args.clients, args.seconds, *sides[name], 200, server)
                        for name in order}
                for name, phase in done.items():
                    phases[name].append(phase)
                ratios.append(done["poll"].throughput / done["trivial"].throughput)
                print(f"  round {round_number + 1}: poll {done['poll'].throughput:.0f} req/s, trivial "
                      f"{done['trivial'].throughput:.0f} req/s, ratio {ratios[-1]:.2f}")
            print("overall:")
            poll_rate, poll_p99, poll_errors = report("poll", phases["poll"])
            trivial_rate, trivial_p99, trivial_errors = report("trivial", phases["trivial"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratio = statistics.median(ratios)
    print(f"poll/trivial throughput: {ratio:.2f} (median of rounds; target >= {TARGET_RATIO}); "
          f"p99 {1000 * poll_p99:.1f} ms vs {1000 * trivial_p99:.1f} ms")
    ok = ratio >= TARGET_RATIO and poll_errors == trivial_errors == 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
