"""Application factory: `create_app()` builds the Flask app the web server, the
Celery worker, beat and the Flask CLI all start from."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

import config as config_module
from extensions import csrf, db


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` overrides the environment-derived settings."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_module.config_class())
    if config:
        app.config.update(config)
    _resolve_paths(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    csrf.init_app(app)

    from tasks.celery_app import celery_init_app

    celery_init_app(app)
    import tasks.pipeline  # noqa: F401  (registers the tasks on the Celery app)
    import tasks.health  # noqa: F401

    from blueprints import health, transcriptions, uploads

    app.register_blueprint(health.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(transcriptions.bp)

    import cli

    cli.register(app)

    with app.app_context():
        db.create_all()
    return app


def _resolve_paths(app: Flask) -> None:
    """Fill in the defaults that live in the instance folder."""
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "transcriber.sqlite3")
    if not app.config.get("UPLOAD_FOLDER"):
        app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
