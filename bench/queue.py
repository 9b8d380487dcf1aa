"""Benchmark: tasks.rq against raw Celery and RQ itself, on one Redis, side by side.

    python bench/queue.py [--jobs 1000] [--rounds 7]

Starts a private redis-server and one `celery worker -c 2` (prefork) consuming
two queues: raw Celery tasks (`delay()` of a no-op shared_task, results stored
as the app stores them) go to the default queue, tasks.rq jobs (a no-op
function) to another. Enqueue figures are taken before the worker starts.
The sides alternate round by round; each ratio is the median of the per-round
ratios, so background load that comes and goes hits both sides of it alike. Printed ratios and their targets:

  enqueue          tasks.rq enqueue() calls per second / raw delay() calls   >= 0.9
  end to end       no-op jobs finished per second / raw no-op tasks          >= 0.9
  enqueue_many     1000 enqueue() calls' time / one enqueue_many of 1000     >= 3

RQ's own enqueue and its SimpleWorker (in this process, burst mode) run on the
same Redis for reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as `python bench/queue.py`, this folder would come first on sys.path and
# shadow the standard library's `queue` module; the repository root goes there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO_ROOT)
if __name__ == "__main__":
    # RQ's worker imports the job function as `bench.queue.noop`: let that be this
    # very module rather than a second copy registering the Celery task again.
    sys.modules.setdefault("bench.queue", sys.modules["__main__"])

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from celery import shared_task  # noqa: E402

RAW_QUEUE = "celery"  # where delay() sends the raw task: the app's default queue
JOBS_QUEUE = "bench_rq"
NOOP_JOB = "bench.queue.noop"
TARGETS = {"enqueue": 0.9, "end_to_end": 0.9, "enqueue_many": 3.0}


def noop() -> None:
    """The job every tasks.rq and RQ run executes."""


@shared_task(name="bench.queue.noop_task")
def noop_task() -> None:
    """The raw Celery task: the same no-op."""


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not finish in time")
        time.sleep(0.01)


class Bench:
    """The Redis, the worker and the three clients of one benchmark run."""

    def __init__(self, workdir: Path, jobs: int):
        from redis import Redis

        from tasks.redis_server import RedisServer

        self.jobs = jobs
        self.redis_server = RedisServer().start()
        url = self.redis_server.url
        self.env = {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "UPLOAD_FOLDER": str(workdir / "uploads"),
            "CELERY_BROKER_URL": f"{url}/0",
            "CELERY_RESULT_BACKEND": f"{url}/1",
        }
        os.environ.update(self.env)
        from app import create_app

        try:
            self.app = create_app()
        except BaseException:
            self.redis_server.stop()  # not left behind when the app refuses to start
            raise
        self.celery = self.app.extensions["celery"]
        self.broker = Redis.from_url(f"{url}/0")
        self.results = Redis.from_url(f"{url}/1")  # Celery's results and tasks.rq's job data
        self.rq_redis = Redis.from_url(f"{url}/2")  # RQ's own data
        self.worker = None
        self.workdir = workdir

    def start_worker(self) -> None:
        from tests.support.worker import CeleryProcess

        self.worker = CeleryProcess(
            ["worker", "-Q", f"{RAW_QUEUE},{JOBS_QUEUE}", "-c", "2", "-n", "bench@%h", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "-I", "bench.queue"],
            self.env, self.workdir / "worker.log", ready_marker="[queues]",
        ).start()
        wait_until(lambda: self.celery.control.ping(timeout=0.5), timeout=30)

    def stop(self) -> None:
        if self.worker:
            self.worker.stop()
        self.redis_server.stop()

    def reset(self) -> None:
        """Forget every message, result and job of the previous round (the worker's own keys stay)."""
        self.broker.delete(RAW_QUEUE, JOBS_QUEUE)
        self.results.flushdb()
        self.rq_redis.flushdb()

    # Enqueue throughput (nothing consumes the queue)

    def raw_enqueue(self) -> float:
        self.reset()
        return timed(lambda: [noop_task.delay() for _ in range(self.jobs)])

    def jobs_enqueue(self) -> float:
        from tasks.rq import Queue

        self.reset()
        queue = Queue(JOBS_QUEUE, connection=self.results)
        return timed(lambda: [queue.enqueue(NOOP_JOB) for _ in range(self.jobs)])

    def jobs_enqueue_many(self, count: int) -> float:
        from tasks.rq import Queue

        self.reset()
        queue = Queue(JOBS_QUEUE, connection=self.results)
        return timed(lambda: queue.enqueue_many([Queue.prepare_data(NOOP_JOB) for _ in range(count)]))

    def jobs_enqueue_one_by_one(self, count: int) -> float:
        from tasks.rq import Queue

        self.reset()
        queue = Queue(JOBS_QUEUE, connection=self.results)
        return timed(lambda: [queue.enqueue(NOOP_JOB) for _ in range(count)])

    def rq_enqueue(self) -> float:
        import rq

        self.reset()
        queue = rq.Queue(JOBS_QUEUE, connection=self.rq_redis)
        return timed(lambda: [queue.enqueue(NOOP_JOB) for _ in range(self.jobs)])

    # End to end: from the first enqueue until the last job has finished

    def raw_end_to_end(self) -> float:
        self.reset()
        started = time.perf_counter()
        keys = [f"celery-task-meta-{noop_task.delay().id}" for _ in range(self.jobs)]

        def all_succeeded() -> bool:
            # Tasks finish about in order: look at the oldest pending ones only, so a
            # poll costs about what tasks.rq's one ZCARD costs.
            while keys:
                head = keys[:50]
                done = 0
                for value in self.results.mget(head):
                    if value is None or b'"SUCCESS"' not in value:
                        break
                    done += 1
                del keys[:done]
                if done < len(head):
                    return False
            return True

        wait_until(all_succeeded)
        return time.perf_counter() - started

    def jobs_end_to_end(self) -> float:
        from tasks.rq import Queue

        self.reset()
        queue = Queue(JOBS_QUEUE, connection=self.results)
        finished = queue.finished_job_registry
        started = time.perf_counter()
        for _ in range(self.jobs):
            queue.enqueue(NOOP_JOB)
        wait_until(lambda: finished.get_job_count(cleanup=False) >= self.jobs)
        return time.perf_counter() - started

    def rq_end_to_end(self) -> float:
        import rq

        self.reset()
        queue = rq.Queue(JOBS_QUEUE, connection=self.rq_redis)
        started = time.perf_counter()
        for _ in range(self.jobs):
            queue.enqueue(NOOP_JOB)
        rq.SimpleWorker([queue], connection=self.rq_redis).work(burst=True, logging_level="WARNING")
        return time.perf_counter() - started


def paired_rounds(rounds: int, *measures: Callable[[], float]) -> list[list[float]]:
    """Run the measures back to back, `rounds` times; each measure's durations, round by round.

    Every other round runs them in reverse order, so a drift in background load
    does not always favour the one that goes first.
    """
    samples: list[list[float]] = [[] for _ in measures]
    for round_number in range(rounds):
        order = list(enumerate(measures))
        for index, measure in order if round_number % 2 == 0 else reversed(order):
            samples[index].append(measure())
    return samples


def median_ratio(slower: list[float], faster: list[float]) -> float:
    """The median over rounds of slower/faster durations: each round's pair ran back to back,
    so load from other processes that comes and goes weighs on both sides of a ratio alike."""
    return statistics.median(a / b for a, b in zip(slower, faster, strict=True))


def verdict(name: str, ratio: float, slower: list[float], faster: list[float]) -> str:
    target = TARGETS[name]
    of_medians = statistics.median(slower) / statistics.median(faster)
    return (f"{ratio:5.2f}x  (target >= {target}x: {'PASS' if ratio >= target else 'FAIL'}; "
            f"ratio of the medians {of_medians:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per enqueue and end-to-end round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (medians are kept)")
    options = parser.parse_args()
    batch = 1000

    with tempfile.TemporaryDirectory(prefix="bench-queue-") as workdir:
        bench = Bench(Path(workdir), options.jobs)
        try:
            # Enqueue rounds are short: take more of them.
            enqueue_rounds = 2 * options.rounds + 1
            raw, jobs, rq_lib = paired_rounds(enqueue_rounds, bench.raw_enqueue, bench.jobs_enqueue, bench.rq_enqueue)
            one_by_one, many = paired_rounds(
                enqueue_rounds, lambda: bench.jobs_enqueue_one_by_one(batch), lambda: bench.jobs_enqueue_many(batch)
            )
            bench.start_worker()
            raw_e2e, jobs_e2e = paired_rounds(options.rounds, bench.raw_end_to_end, bench.jobs_end_to_end)
            rq_e2e = bench.rq_end_to_end()
        finally:
            bench.stop()

    n = options.jobs
    median = statistics.median
    ratios = {
        "enqueue": median_ratio(raw, jobs),
        "end_to_end": median_ratio(raw_e2e, jobs_e2e),
        "enqueue_many": median_ratio(one_by_one, many),
    }
    print(f"tasks.rq benchmark: {n} no-op jobs per round, one Redis, one celery worker -c 2 (prefork)")
    print(f"\nEnqueue (no worker consuming; {enqueue_rounds} rounds):")
    print(f"  raw Celery delay()        {n / median(raw):8.0f} /s")
    print(f"  tasks.rq enqueue()        {n / median(jobs):8.0f} /s")
    print(f"  RQ enqueue()              {n / median(rq_lib):8.0f} /s")
    print(f"  tasks.rq / raw Celery     {verdict('enqueue', ratios['enqueue'], raw, jobs)}")
    print(f"\nenqueue_many of {batch} jobs vs {batch} enqueue() calls ({enqueue_rounds} rounds):")
    print(f"  {batch} x enqueue()         {median(one_by_one) * 1000:8.1f} ms")
    print(f"  enqueue_many({batch})       {median(many) * 1000:8.1f} ms")
    print(f"  speed-up                  {verdict('enqueue_many', ratios['enqueue_many'], one_by_one, many)}")
    print(f"\nEnd to end (enqueue all, wait until all finished; {options.rounds} rounds):")
    print(f"  raw Celery                {n / median(raw_e2e):8.0f} /s")
    print(f"  tasks.rq                  {n / median(jobs_e2e):8.0f} /s")
    print(f"  RQ + SimpleWorker         {n / rq_e2e:8.0f} /s   (in-process worker, 1 round)")
    print(f"  tasks.rq / raw Celery     {verdict('end_to_end', ratios['end_to_end'], raw_e2e, jobs_e2e)}")
    print("\nThroughputs are medians; ratios are medians of per-round ratios (each round's sides ran back to back).")
    return 0 if all(ratios[name] >= target for name, target in TARGETS.items()) else 1

if __name__ == "__main__":
    sys.exit(main())
