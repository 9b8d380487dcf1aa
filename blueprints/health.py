"""Liveness endpoint for load balancers and process managers."""

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; nothing else is checked."""
    return jsonify(status="ok")
