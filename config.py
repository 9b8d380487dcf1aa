"""Configuration: one class per environment, values from the environment and `.env`.

`APP_ENV` picks the class (development by default). Every value can be given
as an environment variable of the same name; `create_app(config={...})`
overrides win over both.
"""

from __future__ import annotations

import os

from dotenv import load_dotenv

# .env is read once, here, so the web process, the worker, beat and the Flask
# CLI all see the same settings. Real environment variables take precedence.
load_dotenv()


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


DEVELOPMENT_SECRET_KEY = "dev-only-secret-key-change-me"


class Config:
    """Defaults for every environment; each value may come from the environment."""

    SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    # Refuse to start with the development key or a short one (security/secret_key.py).
    REQUIRE_STRONG_SECRET_KEY = False
    # The login session lives in a signed cookie: no script may read it, other sites'
    # forms do not send it, and in production it only travels over HTTPS.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)

    # None means "SQLite in the instance folder", resolved by create_app.
    SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL") or None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # Each process brings the schema to the latest migration when it starts; 0: run `flask db upgrade` yourself.
    AUTO_MIGRATE = env_bool("AUTO_MIGRATE", True)

    # Empty broker URL means "start an embedded Redis" (run.py); the app itself
    # falls back to the conventional local Redis.
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://localhost:6379/0")
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
    CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 7200)
    CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 7500)
    # Job data of the RQ-compatible API (tasks.rq); None means the result backend's Redis.
    RQ_REDIS_URL = env_str("RQ_REDIS_URL") or None
    # How often each worker moves due scheduled jobs to their queue.
    RQ_SCHEDULER_INTERVAL = env_float("RQ_SCHEDULER_INTERVAL", 1.0)

    OPENAI_API_KEY = env_str("OPENAI_API_KEY")
    OPENAI_BASE_URL = env_str("OPENAI_BASE_URL") or None
    OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 300.0)
    TRANSCRIPTION_MODEL = env_str("TRANSCRIPTION_MODEL", "whisper-1")
    # auto: OpenAI when OPENAI_API_KEY is set, else the offline engine (pocketsphinx).
    TRANSCRIPTION_ENGINE = env_str("TRANSCRIPTION_ENGINE", "auto")

    UPLOAD_FOLDER = env_str("UPLOAD_FOLDER") or None  # None: instance/uploads
    # local: recordings in UPLOAD_FOLDER (shared by every host, if workers run on several).
    # s3: in S3_BUCKET (S3_ENDPOINT_URL for MinIO and other S3-compatible servers; credentials
    # from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or any source boto3 knows); UPLOAD_FOLDER is then
    # only this host's uploads in flight and its cache of downloaded recordings.
    STORAGE = env_str("STORAGE", "local")
    S3_BUCKET = env_str("S3_BUCKET")
    S3_PREFIX = env_str("S3_PREFIX")
    S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL") or None
    S3_REGION = env_str("S3_REGION") or env_str("AWS_DEFAULT_REGION") or None
    MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 1024)
    CHUNK_SECONDS = env_int("CHUNK_SECONDS", 600)
    # Longest recording accepted, as measured by probing (not the size: a small file can hold hours).
    MAX_AUDIO_MINUTES = env_int("MAX_AUDIO_MINUTES", 240)

    # Retention: recordings older than RETENTION_DAYS lose their audio (0 keeps everything);
    # with RETENTION_DELETE_TRANSCRIPTS their transcripts and every trace of them go too.
    RETENTION_DAYS = env_int("RETENTION_DAYS", 0)
    RETENTION_DELETE_TRANSCRIPTS = env_bool("RETENTION_DELETE_TRANSCRIPTS", False)
    RETENTION_INTERVAL_SECONDS = env_float("RETENTION_INTERVAL_SECONDS", 3600.0)

    # Retry policy for transient API failures (network, timeout, 429, 5xx).
    TRANSCRIPTION_MAX_ATTEMPTS = env_int("TRANSCRIPTION_MAX_ATTEMPTS", 3)
    TRANSCRIPTION_RETRY_DELAY_SECONDS = env_float("TRANSCRIPTION_RETRY_DELAY_SECONDS", 60.0)

    # Parallel chunks: how many of one recording's chunks are in flight at once,
    # and what each chunk is prompted with (see README, "Prompt modes").
    TRANSCRIPTION_CONCURRENCY = env_int("TRANSCRIPTION_CONCURRENCY", 4)
    TRANSCRIPTION_PROMPT_MODE = env_str("TRANSCRIPTION_PROMPT_MODE", "parallel")

    # Crash recovery: lanes write a heartbeat this often; work whose heartbeat is
    # older than STALE_AFTER_SECONDS was abandoned and is taken over.
    HEARTBEAT_SECONDS = env_float("HEARTBEAT_SECONDS", 5.0)
    STALE_AFTER_SECONDS = env_float("STALE_AFTER_SECONDS", 60.0)
    RECOVERY_INTERVAL_SECONDS = env_float("RECOVERY_INTERVAL_SECONDS", 30.0)
    # How often a pipeline whose chunks are all taken looks at the other lanes.
    PIPELINE_POLL_SECONDS = env_float("PIPELINE_POLL_SECONDS", 1.0)

    # Let the browser cache static assets; templates reference them by name.
    SEND_FILE_MAX_AGE_DEFAULT = 3600


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True


class ProductionConfig(Config):
    REQUIRE_STRONG_SECRET_KEY = True
    SESSION_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_class() -> type[Config]:
    name = env_str("APP_ENV", "development").lower()
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise ValueError(f"APP_ENV must be one of {', '.join(CONFIGS)}, got {name!r}") from exc
