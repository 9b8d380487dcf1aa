"""Liveness and readiness endpoints for load balancers, orchestrators and process managers."""

from flask import Blueprint, current_app, jsonify

from tasks.readiness import check_readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; nothing else is checked."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database, the broker and at least one worker answer: 200, else 503 naming what failed."""
    report = check_readiness(current_app._get_current_object())
    return jsonify(report), 200 if report["status"] == "ready" else 503
