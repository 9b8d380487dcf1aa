"""Recordings in S3-compatible object storage, so workers on other hosts can read them.

Same interface as LocalStorage. Objects live in the bucket under `prefix`; a
host that needs a file (ffmpeg reads local paths) downloads it once into its
own cache folder and keeps it while it is used. Uploads in flight stay on the
web host's disk (`incoming_dir`) until they are accepted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path, PurePosixPath

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

# A cached copy not used for this long is removed; a lane uses its recording's
# working copy at least once per chunk, so anything in use is touched far more often.
CACHE_IDLE_SECONDS = 3600
EVICTION_INTERVAL_SECONDS = 300
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """A bucket (and key prefix) on AWS S3 or any S3-compatible server (MinIO, Ceph, moto, ...)."""

    def __init__(self, bucket: str, local_root: str | os.PathLike, *, prefix: str = "",
                 endpoint_url: str | None = None, region: str | None = None):
        if not bucket:
            raise ValueError("S3_BUCKET must be set when STORAGE=s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.root = Path(local_root).resolve()
        self.cache_dir = self.root / ".cache"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._client = None
        self._client_pid = 0
        self._last_eviction = 0.0

    @property
    def client(self):
        # boto3 clients hold connection pools that must not cross a fork (Celery's pool children).
        if self._client is None or self._client_pid != os.getpid():
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"}),
            )
            self._client_pid = os.getpid()
        return self._client

    def _object_key(self, key: str) -> str:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"invalid storage key: {key!r}")
        return self.prefix + relative.as_posix()

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir.joinpath(*PurePosixPath(self._object_key(key)).parts)

    def put_file(self, key: str, source: str | os.PathLike, *, move: bool = False) -> None:
        """Upload `source` as `key`; with move=True the source becomes this host's cached copy."""
        object_key = self._object_key(key)
        self.client.upload_file(str(source), self.bucket, object_key)
        if move:
            cached = self._cache_path(key)
            cached.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, cached)
            except OSError:  # another filesystem: no point copying what can be downloaded
                os.unlink(source)

    def local_path(self, key: str) -> Path:
        """A path on this host holding the object: the cached copy, downloaded first if needed."""
        size = self._remote_size(key)  # also: FileNotFoundError if it was deleted meanwhile
        cached = self._cache_path(key)
        cached.parent.mkdir(parents=True, exist_ok=True)
        # One download per host even when several pool processes ask at once.
        with open(f"{cached}.lock", "a") as lock, _locked(lock):
            if not (cached.is_file() and cached.stat().st_size == size):
                partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
                self.client.download_file(self.bucket, self._object_key(key), str(partial))
                os.replace(partial, cached)
            os.utime(cached)  # in use: keep it (and its lock file) from eviction
            os.utime(lock.name)
        self._evict_idle_copies()
        return cached

    def exists(self, key: str) -> bool:
        try:
            self._remote_size(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return self._remote_size(key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        self._cache_path(key).unlink(missing_ok=True)

    @property
    def incoming_dir(self) -> Path:
        """Where uploads stream to before they are accepted: a local folder on this host."""
        path = self.root / ".incoming"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _remote_size(self, key: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                raise FileNotFoundError(key) from exc
            raise
        return int(head["ContentLength"])

    def _evict_idle_copies(self) -> None:
        """Remove cached copies nobody used lately (another host may have finished and deleted them)."""
        now = time.time()
        if now - self._last_eviction < EVICTION_INTERVAL_SECONDS:
            return
        self._last_eviction = now
        for path in self.cache_dir.rglob("*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and now - path.stat().st_mtime > CACHE_IDLE_SECONDS:
                    path.unlink()


@contextlib.contextmanager
def _locked(lock_file):
    fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)
