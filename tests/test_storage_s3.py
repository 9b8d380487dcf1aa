"""S3 storage against moto's standalone server: the storage interface, and a recording
transcribed by two workers that share no folder with each other or with the web app."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import boto3
import pytest

from tasks.redis_server import RedisServer
from tests.support.databases import own_app
from tests.support.dtmf import words_text
from tests.support.moto import CREDENTIALS, MotoServer
from tests.support.web import transcription_id_from, upload, wait_for_status
from tests.support.worker import celery_worker
from transcription.s3_storage import S3Storage


@pytest.fixture(scope="module")
def moto_server():
    with MotoServer() as server:
        yield server


@pytest.fixture()
def bucket(moto_server, monkeypatch) -> str:
    """A new bucket; AWS credentials in this process's environment, as boto3 reads them."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"recordings-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_server.url).create_bucket(Bucket=name)
    return name


def storage_on(moto_server, bucket: str, folder: Path) -> S3Storage:
    return S3Storage(bucket, folder, prefix="transcriber/", endpoint_url=moto_server.url)


def test_put_read_size_delete(moto_server, bucket, tmp_path):
    web = storage_on(moto_server, bucket, tmp_path / "web")
    worker = storage_on(moto_server, bucket, tmp_path / "worker")
    source = tmp_path / "upload.part"
    source.write_bytes(b"RIFF" + bytes(range(256)) * 100)
    web.put_file("audio/abc.wav", source, move=True)
    assert not source.exists(), "moved: the web host keeps it as its cached copy"

    listing = boto3.client("s3", endpoint_url=moto_server.url).list_objects_v2(Bucket=bucket)
    keys = [item["Key"] for item in listing["Contents"]]
    assert keys == ["transcriber/audio/abc.wav"]
    assert worker.exists("audio/abc.wav") and worker.size("audio/abc.wav") == 4 + 25600
    local = worker.local_path("audio/abc.wav")
    assert local.read_bytes() == b"RIFF" + bytes(range(256)) * 100
    assert local.is_relative_to(tmp_path / "worker"), "downloaded into the worker's own cache"
    assert worker.local_path("audio/abc.wav") == local

    web.delete("audio/abc.wav")
    assert not worker.exists("audio/abc.wav")
    with pytest.raises(FileNotFoundError):
        worker.local_path("audio/abc.wav")  # gone from the bucket: a cached copy does not count


def test_a_changed_object_is_downloaded_again(moto_server, bucket, tmp_path):
    writer = storage_on(moto_server, bucket, tmp_path / "a")
    reader = storage_on(moto_server, bucket, tmp_path / "b")
    for content in (b"first version", b"second, longer version"):
        source = tmp_path / "source"
        source.write_bytes(content)
        writer.put_file("work/x.wav", source)
        assert reader.local_path("work/x.wav").read_bytes() == content


def test_keys_cannot_leave_the_prefix(moto_server, bucket, tmp_path):
    storage = storage_on(moto_server, bucket, tmp_path / "s")
    for key in ("../escape", "/abs/path", "audio/../../x", ""):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.exists(key)


def test_s3_without_a_bucket_is_refused(tmp_path):
    with pytest.raises(ValueError, match="S3_BUCKET must be set"):
        S3Storage("", tmp_path)


def test_a_recording_completes_with_two_workers_that_share_no_folder(
        app, test_env, moto_server, bucket, tmp_path, fake_openai, make_recording):
    s3 = {"STORAGE": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": moto_server.url, "S3_PREFIX": "transcriber"}
    web_folder = tmp_path / "web"
    with RedisServer() as redis:
        broker = {"CELERY_BROKER_URL": f"{redis.url}/0", "CELERY_RESULT_BACKEND": f"{redis.url}/1"}
        with own_app(app, tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], **broker, **s3,
                     UPLOAD_FOLDER=str(web_folder), CHUNK_SECONDS=10, TRANSCRIPTION_CONCURRENCY=4,
                     OPENAI_API_KEY=test_env["OPENAI_API_KEY"], OPENAI_BASE_URL=test_env["OPENAI_BASE_URL"]) as web:
            run_on_two_workers(web, test_env, broker, s3, tmp_path, fake_openai, make_recording)


def run_on_two_workers(web, test_env, broker, s3, tmp_path, fake_openai, make_recording) -> None:
    """Workers "east" and "west", each with its own storage folder and TMPDIR, transcribe one recording."""
    workers = []
    for name in ("east", "west"):
        folder = tmp_path / name
        (folder / "tmp").mkdir(parents=True)
        env = {**test_env, **broker, **CREDENTIALS, **s3, "UPLOAD_FOLDER": str(folder / "storage"),
               "TMPDIR": str(folder / "tmp")}
        workers.append(celery_worker(env, tmp_path / f"{name}.log", concurrency=2, hostname=f"{name}@%h"))
    try:
        for worker in workers:
            worker.start()
        fake_openai.delay_seconds = 0.5  # long enough for both workers to take chunks
        path, words = make_recording(40, seed=51)
        transcription_id = transcription_id_from(upload(web.test_client(), path))
        transcription = wait_for_status(web, transcription_id, timeout=120)
        assert transcription.status == "finished", transcription.error
        assert transcription.text == words_text(words)
        assert transcription.chunk_count >= 4
    finally:
        for worker in workers:
            worker.kill()

    saved = re.compile(rf"transcription {transcription_id}: chunk \d+ of \d+ saved")
    saved_by = {worker.log_path.stem: len(saved.findall(worker.output())) for worker in workers}
    assert all(count >= 1 for count in saved_by.values()), f"each worker transcribed chunks: {saved_by}"
    assert sum(saved_by.values()) == transcription.chunk_count
    for name in ("east", "west"):
        cached = [p for p in (tmp_path / name / "storage" / ".cache").rglob("*")
                  if p.is_file() and not p.name.endswith(".lock")]
        assert cached, f"worker {name} read the recording from the bucket into its own cache"
    kept_by_web = [p for p in (tmp_path / "web").rglob("*") if p.is_file()]
    assert all(".cache" in p.parts for p in kept_by_web), "the web host keeps nothing outside its cache"
