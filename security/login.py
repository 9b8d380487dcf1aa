"""Sign-in is required everywhere, decided in one place.

`require_login` runs before every view. Only the endpoints in PUBLIC_ENDPOINTS
are open to visitors who have not signed in, so a new route is private unless
someone adds it there. Routes of ADMIN_BLUEPRINTS answer 404 to everyone but
admins: the same answer as another user's recording, which does not exist for them.

Flask-Login keeps "<user id>:<session token>" in the signed session cookie
(models.User.get_id); the user is loaded from the database on first use of
`current_user`, so a deleted user or a changed password ends old sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import select

from accounts import has_users
from extensions import db, login_manager
from models import User

PUBLIC_ENDPOINTS = frozenset({"static", "accounts.login", "accounts.setup", "health.healthz", "health.readyz"})
ADMIN_BLUEPRINTS = frozenset({"jobs", "users"})
# Set on views that load the signed-in user themselves, in the same query as what they
# show (security/ownership.py): the gate then only checks that the session names a user.
VERIFIES_VIEWER = "verifies_viewer"


@dataclass(frozen=True)
class SessionClaim:
    """Who the session cookie says is signed in; not yet checked against the database."""

    user_id: int
    session_token: str


def parse_claim(raw: object) -> SessionClaim | None:
    if not isinstance(raw, str):
        return None
    user_id, _, token = raw.partition(":")
    if not user_id.isdigit() or not token:
        return None
    return SessionClaim(int(user_id), token)


def session_claim() -> SessionClaim | None:
    return parse_claim(session.get("_user_id"))


def load_user(raw_id: str) -> User | None:
    claim = parse_claim(raw_id)
    if claim is None:
        return None
    return db.session.scalars(
        select(User).where(User.id == claim.user_id, User.session_token == claim.session_token)
    ).one_or_none()


def set_current_user(user: User) -> None:
    """Make `user`, loaded by a view's own query, Flask-Login's current_user for this request."""
    g._login_user = user


def verifies_viewer(view: Callable) -> Callable:
    setattr(view, VERIFIES_VIEWER, True)
    return view


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.session_protection = "basic"
    app.before_request(require_login)


def require_login() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None  # no such route (a 404 or 405 follows), or open to all
    view = current_app.view_functions.get(endpoint)
    if getattr(view, VERIFIES_VIEWER, False) and session_claim() is not None:
        return None
    if not current_user.is_authenticated:
        return sign_in_response()
    if ADMIN_BLUEPRINTS.intersection(request.blueprints) and not current_user.is_admin:
        abort(404)
    return None


def sign_in_response() -> Response:
    """Where a visitor who is not signed in goes: the first-run page while there are no users, else login."""
    if not has_users():
        target = url_for("accounts.setup")
    else:
        target = url_for("accounts.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        # An htmx poll would swap the login page into the fragment; have it load the page instead.
        return Response(status=401, headers={"HX-Redirect": target})
    return redirect(target)


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the home page (no open redirect)."""
    if not target:
        return url_for("uploads.upload")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("uploads.upload")
    return target
