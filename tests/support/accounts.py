"""Signed-in test clients: every `app.test_client()` signs in as the default user unless told otherwise."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from extensions import db
from models import User

DEFAULT_USERNAME = "tester"  # an admin, so existing tests see everything, /jobs included
PASSWORD = "correct horse battery"
# One round of PBKDF2: the tests create many users, and these passwords protect nothing.
CHEAP_HASH = "pbkdf2:sha256:1"


def ensure_user(username: str, *, is_admin: bool = False) -> User:
    """The user named `username` (password PASSWORD), created if missing. Needs an app context."""
    user = db.session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        user = User(username=username, password_hash=generate_password_hash(PASSWORD, method=CHEAP_HASH),
                    is_admin=is_admin)
        db.session.add(user)
        db.session.commit()
    return user


def sign_in(client: FlaskClient, username: str, *, is_admin: bool = False) -> None:
    """Put `username`'s login in the client's session cookie, as signing in would."""
    with client.application.app_context():
        login_id = ensure_user(username, is_admin=is_admin).get_id()
    with client.session_transaction() as session:
        session.clear()
        session["_user_id"] = login_id
        session["_fresh"] = True


class SignedInClient(FlaskClient):
    """`app.test_client()` signed in as the default (admin) user; `app.test_client(user=None)` is anonymous."""

    def __init__(self, *args, user: str | None = DEFAULT_USERNAME, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            sign_in(self, user, is_admin=user == DEFAULT_USERNAME)
