"""Application factory: `create_app()` builds the Flask app the web server, the
Celery worker, beat and the Flask CLI all start from."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine

import config as config_module
import database
import security
from blueprints.upload_stream import StreamedUploadRequest, form_was_unreadable, remove_unaccepted_uploads
from extensions import csrf, db
from logs import configure_logging
from transcription.formats import format_clock
from transcription.storage import LocalStorage, Storage


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` overrides the environment-derived settings."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_module.config_class())
    if config:
        app.config.update(config)
    security.check_secret_key(app.config)
    _resolve_paths(app)
    configure_logging()

    database.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    app.extensions["storage"] = _open_storage(app.config)
    with app.app_context():
        _tune_sqlite(db.engine)

    from tasks.celery_app import celery_init_app

    celery_init_app(app)
    import tasks.rq

    tasks.rq.init_app(app)
    import tasks.health  # noqa: F401
    import tasks.pipeline  # noqa: F401  (registers the tasks on the Celery app)
    import tasks.recovery  # noqa: F401
    import tasks.retention  # noqa: F401
    import tasks.shutdown  # noqa: F401  (warm-shutdown signal handlers)
    from blueprints import accounts, health, jobs, recordings, transcriptions, uploads, users

    app.register_blueprint(health.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(transcriptions.bp)
    app.register_blueprint(recordings.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(users.bp)

    _register_error_pages(app)
    app.jinja_env.filters["clock"] = format_clock
    app.request_class = StreamedUploadRequest
    app.teardown_request(lambda _exc: remove_unaccepted_uploads(request))

    import cli

    cli.register(app)

    with app.app_context():
        database.ensure_schema(app)
    return app


def _register_error_pages(app: Flask) -> None:
    """Every error a person can meet is a page that says what happened, never a stack trace."""
    from blueprints.uploads import too_large

    def page(title: str, message: str, status: int):
        return render_template("error.html", title=title, message=message), status

    app.register_error_handler(413, too_large)
    app.register_error_handler(404, lambda _e: page("Not found", "There is nothing at this address.", 404))
    app.register_error_handler(405, lambda _e: page("Not allowed", "That action is not possible here.", 405))
    def csrf_failed(_error):
        if form_was_unreadable(request):
            return page("Upload not readable", "The form could not be read, most often because the file's name is "
                        "not valid text (UTF-8). Rename the file with plain letters and digits and upload it again.",
                        400)
        return page("Form expired",
                    "The form was too old or incomplete to accept. Go back, reload the page and try again.", 400)

    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(500, lambda _e: page(
        "Something went wrong", "The error was logged. Please try again in a moment.", 500))


def _tune_sqlite(engine: Engine) -> None:
    """SQLite shared by the web process and several workers: WAL lets readers
    proceed during writes, and a busy timeout makes writers wait instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _open_storage(config) -> Storage:
    """Where recordings live: UPLOAD_FOLDER (local), or an S3 bucket with UPLOAD_FOLDER as this host's cache."""
    kind = (config.get("STORAGE") or "local").strip().lower()
    if kind == "local":
        return LocalStorage(config["UPLOAD_FOLDER"])
    if kind == "s3":
        from transcription.s3_storage import S3Storage

        return S3Storage(config.get("S3_BUCKET", ""), config["UPLOAD_FOLDER"], prefix=config.get("S3_PREFIX", ""),
                         endpoint_url=config.get("S3_ENDPOINT_URL"), region=config.get("S3_REGION"))
    raise ValueError(f"STORAGE must be local or s3, got {kind!r}")


def _resolve_paths(app: Flask) -> None:
    """Fill in the defaults that live in the instance folder."""
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "transcriber.sqlite3")
    if not app.config.get("UPLOAD_FOLDER"):
        app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
