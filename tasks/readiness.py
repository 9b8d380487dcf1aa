"""Readiness: can this deployment transcribe right now? The database answers, the
broker answers, and at least one worker answers a ping, each within a short timeout.

Used by /readyz. Failures are described without secrets: messages from the
drivers are cut to their first line and any password in the configured URLs is
masked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import unquote, urlsplit

from flask import Flask
from sqlalchemy import text

from extensions import db
from tasks.celery_app import ensure_broker_reachable

DATABASE_TIMEOUT = 2.0
BROKER_TIMEOUT = 2.0
PING_TIMEOUT = 1.0

# The checks run side by side so a slow database does not delay the broker's verdict.
# A check that overruns its timeout keeps its thread until its own driver timeout ends it.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def check_readiness(app: Flask) -> dict:
    """{"status": "ready" | "not ready", "failed": [names], "checks": {name: {"ok": bool, ...}}}."""
    celery_app = app.extensions["celery"]
    database = _executor.submit(_timed, lambda: _check_database(app))
    broker = _executor.submit(_timed, lambda: _check_broker(celery_app))
    checks = {
        "database": _result(database, DATABASE_TIMEOUT),
        "broker": _result(broker, BROKER_TIMEOUT + 0.5),
    }
    if checks["broker"]["ok"]:
        checks["workers"] = _result(_executor.submit(_timed, lambda: _check_workers(celery_app)), PING_TIMEOUT + 1)
    else:
        checks["workers"] = {"ok": False, "error": "not checked: the broker does not answer"}
    secrets = _passwords(app.config.get("SQLALCHEMY_DATABASE_URI"), celery_app.conf.broker_url,
                         celery_app.conf.result_backend)
    for check in checks.values():
        if "error" in check:
            check["error"] = _redact(check["error"], secrets)
    failed = [name for name, check in checks.items() if not check["ok"]]
    return {"status": "not ready" if failed else "ready", "failed": failed, "checks": checks}


def _check_database(app: Flask) -> dict:
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"ok": True}


def _check_broker(celery_app) -> dict:
    ensure_broker_reachable(celery_app, timeout=BROKER_TIMEOUT)
    return {"ok": True}


def _check_workers(celery_app) -> dict:
    replies = celery_app.control.ping(timeout=PING_TIMEOUT) or []
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return {"ok": False, "error": f"no worker answered a ping within {PING_TIMEOUT:g} s", "workers": []}
    return {"ok": True, "workers": workers}


def _timed(check: Callable[[], dict]) -> dict:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any failure is an answer: "not ready, because ..."
        result = {"ok": False, "error": _describe(exc)}
    result["ms"] = round((time.monotonic() - started) * 1000)
    return result


def _result(future, timeout: float) -> dict:
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return {"ok": False, "error": f"no answer within {timeout:g} s"}


def _describe(exc: BaseException) -> str:
    # SQLAlchemy wraps the driver's error and appends the SQL and a link; the driver's first line says it.
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(cause).__name__}: {first[:300]}" if first else type(cause).__name__


def _passwords(*urls: str | None) -> list[str]:
    found = []
    for url in urls:
        try:
            password = urlsplit(url or "").password
        except ValueError:
            continue
        if password:
            found += [password, unquote(password)]
    return found


def _redact(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        message = message.replace(secret, "****")
    return message
